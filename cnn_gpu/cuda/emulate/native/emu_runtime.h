// The binary interface between an emulated kernel library and the emulator runtime.
//
// Both sides include this header: the kernel library through cuda_emu.h, the runtime directly.
// Everything a kernel calls that can suspend its thread (barriers, warp operations, cp.async waits)
// is an out-of-line call into the runtime, so the compiler reloads threadIdx and shared memory
// after it: a fiber switch happens only inside these calls.
#pragma once

#include <cstddef>
#include <cstdint>

struct uint3 {
    unsigned x, y, z;
};

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return {x, y, z}; }
};

// The built-in index variables of the running thread, updated by the scheduler at every switch.
extern "C" uint3 cnn_emu_thread_idx;
extern "C" uint3 cnn_emu_block_idx;
extern "C" dim3 cnn_emu_block_dim;
extern "C" dim3 cnn_emu_grid_dim;

// The block's dynamic shared memory (`extern __shared__`): one fixed, page-aligned buffer, so a
// pointer to it is a link-time constant. CNN_EMU_MAX_DYNAMIC_SHARED is the H100's per-block limit.
#define CNN_EMU_MAX_DYNAMIC_SHARED (227 * 1024)
extern "C" unsigned char cnn_emu_dynamic_shared[];

// Float and double atomicAdd calls in the current launch: their sums depend on the order.
extern "C" unsigned long long cnn_emu_float_atomics;

// printf from a kernel; prints only in the first schedule order of a checked launch.
extern "C" int cnn_emu_printf(const char* format, ...);

namespace cnn_emu {

// Warp-level collective operations. Each lane passes a pointer to its input and output; the last
// lane of `mask` to arrive performs the exchange for all of them while the others are suspended,
// so no lane can run ahead and overwrite an input another lane has not read yet.
enum class WarpOp : int { sync, shfl_idx, shfl_up, shfl_down, shfl_xor, ballot, gather };
void warp_collective(WarpOp op, unsigned mask, const void* in, void* out, int bytes, int lane_arg,
                     int width);
unsigned active_mask();

enum class BarrierKind : int { plain, count, all, any };
int block_barrier(BarrierKind kind, int predicate);

// Emulator primitives for the emulated twins of PTX helpers (kernels/ptx.cuh).
//
// warp_all_gather: all 32 lanes of the calling warp call it (lanes beyond blockDim excepted); on
// return `all` holds lane i's `bytes` bytes at offset i * bytes (0xFF bytes for lanes that do not
// exist). It is a warp-synchronous scheduling point: use it to emulate mma.sync or ldmatrix, whose
// fragments live across the lanes.
void warp_all_gather(const void* mine, void* all, int bytes);

// cp.async: async_copy queues a per-thread copy of `bytes` bytes from global to shared memory, of
// which only the first `src_bytes` are read and the rest zero-filled (cp.async's src-size operand).
// async_commit_group closes the group of copies queued since the last commit; async_wait_group(n)
// performs every committed group but the newest n; async_wait_all performs everything queued.
// Copies happen only when a wait requires them (the adversarial but legal timing), and in checked
// mode the destination is poisoned when the copy is queued: a kernel that reads before its wait
// reads stale or poisoned shared memory. Both addresses must be aligned to `bytes`, or the launch
// fails, as a GPU faults.
void async_copy(void* smem_dst, const void* gmem_src, int bytes, int src_bytes);
void async_commit_group();
void async_wait_group(int n);
void async_wait_all();

// The async proxy (wgmma reads shared memory through it; ordinary stores and cp.async write through
// the generic proxy): each cp.async copy into dynamic shared memory marks its 16-byte granules as
// written by the calling thread and not yet fenced; proxy_fence (the twin of fence.proxy.async)
// clears the calling thread's marks; unfenced_writer(p) is 1 + the thread whose unfenced copy wrote
// the granule of p, or 0. Ordinary stores are not tracked.
void proxy_fence();
unsigned unfenced_writer(const void* shared);

// Thread-block clusters. The emulator runs a cluster's blocks together, their threads all fibers
// of one scheduler; the dynamic shared memory buffer holds the block of the running thread (the
// others' are kept aside and swapped in when one of their threads runs). cluster_rank: the calling
// thread's block's rank in the cluster; live_rank: the rank whose shared memory is in the buffer
// now (the caller's in a kernel; in a wait_until condition, the waiter's); block_shared(rank): that
// block's dynamic shared memory, valid until the next switch, and a failure once that block's threads
// have all exited (its shared memory is gone on a GPU); cluster_arrive / cluster_wait: the cluster
// barrier in two halves, as barrier.cluster has them: a thread counts itself in and runs on, then
// waits until every live thread of the cluster has arrived in that phase (a failure where the
// halves do not alternate).
unsigned cluster_rank();
unsigned live_rank();
unsigned char* block_shared(unsigned rank);
void cluster_arrive();
void cluster_wait();

// twin_state / set_twin_state: one pointer per thread for a twin whose effect outlives the call
// (wgmma's operations in flight until their wait), null when the thread starts. `at_exit` runs when
// the thread exits, with the pointer: it frees what the pointer holds, and may fail the launch (an
// operation still in flight). A launch that fails leaves the state of its other threads behind.
void* twin_state();
void set_twin_state(void* state, void (*at_exit)(void* state));

// wait_until: suspend the calling thread until `ready(arg)` is true: a condition on shared memory
// that other threads change, such as an mbarrier's phase (ptx.cuh's mbarrier_wait). It returns at
// once when the condition already holds; otherwise the scheduler checks it again only when no thread
// of the block can run, so the waiter resumes as late as any schedule may let it. If no waiting
// condition holds then, the launch ends as a deadlock, which names `what` and where it was waited for.
void wait_until(bool (*ready)(const void* arg), const void* arg, const char* what);

// Ends the launch with an error (used by __trap and bad intrinsic arguments).
[[noreturn]] void fail(const char* message);

}  // namespace cnn_emu
