// Declarations shared by the runtime's own files (not seen by kernel libraries).
#pragma once

#include <cstdint>
#include <vector>

#include "../emu_runtime.h"

// What Python asks for (mirrored by ctypes in launch.py).
struct cnn_emu_launch_spec {
    void (*body)(void** args);  // runs one thread of the kernel: unpacks args and calls it
    void** args;
    unsigned grid[3];
    unsigned block[3];
    unsigned cluster[3];  // blocks per thread-block cluster (1, 1, 1: none); the grid a multiple of it
    unsigned shared_bytes;
    int order;    // cnn_emu::Order
    int checked;  // poison shared memory, guard the end of dynamic shared memory
    int print;    // let printf through
    unsigned long long seed;
};

// What the runtime answers (mirrored by ctypes in launch.py).
struct cnn_emu_launch_result {
    int status;    // cnn_emu::Status
    int is_write;  // for memory faults: 1 write, 0 read, -1 unknown
    unsigned block[3];
    unsigned thread[3];
    unsigned long long fault_address;
    unsigned long long pc;  // the faulting instruction, for a source line
    unsigned long long float_atomics;
    char message[4096];  // "{pc:0x...}" marks a code address Python turns into a source line
};

namespace cnn_emu {

enum class Status : int {
    ok,
    kernel_error,  // misuse the GPU leaves undefined: warp op masks, __trap, bad arguments
    deadlock,
    memory_fault,  // SIGSEGV/SIGBUS outside our own guards: Python names the argument
    stack_overflow,
    shared_out_of_bounds,
    arithmetic,  // SIGFPE: integer division by zero
};

enum class Order : int { forward, reverse, random };
enum class Wait : int { runnable, barrier, warp, condition, cluster_barrier, exited };

struct AsyncCopy {
    void* dst;
    const void* src;
    int bytes;
    int src_bytes;
};

struct Thread {
    void* sp = nullptr;  // saved stack pointer while suspended
    uint3 idx{};
    unsigned linear = 0;  // in the cluster: its blocks' threads one block after another
    unsigned cta = 0;     // its block's rank in the cluster
    Wait wait = Wait::runnable;
    const void* wait_pc = nullptr;  // the kernel code that called the barrier or warp op
    // At a warp operation:
    WarpOp op = WarpOp::sync;
    unsigned mask = 0;
    const void* in = nullptr;
    void* out = nullptr;
    int bytes = 0, lane_arg = 0, width = 32;
    // At a barrier:
    BarrierKind barrier_kind = BarrierKind::plain;
    int predicate = 0, barrier_result = 0;
    // Arrived at the cluster barrier (cluster_arrive) and not waited yet: the phase it arrived in.
    bool cluster_arrived = false;
    unsigned cluster_phase = 0;
    // At wait_until:
    bool (*ready)(const void*) = nullptr;
    const void* ready_arg = nullptr;
    const char* waiting_for = nullptr;
    // Queued cp.async copies, oldest first; copies before group_ends[i] belong to groups 0..i.
    std::vector<AsyncCopy> copies;
    std::vector<size_t> group_ends;
    // The granules of dynamic shared memory its performed copies marked unfenced (proxy_fence).
    std::vector<unsigned> unfenced_granules;
    // A twin's state (twin_state / set_twin_state) and what to do with it at exit.
    void* twin_state = nullptr;
    void (*twin_at_exit)(void*) = nullptr;
};

// splitmix64: a tiny, seedable generator for the random schedule order.
struct Rng {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
};

// The launch in progress (one at a time: Python serialises launches).
struct LaunchState {
    const cnn_emu_launch_spec* spec = nullptr;
    cnn_emu_launch_result* result = nullptr;
    Order order = Order::forward;
    Rng rng{0};
    bool printing = true;
};
extern LaunchState g_launch;

// fibers.cpp
constexpr unsigned kMaxThreads = 2048;  // per cluster (a block without one is a cluster of one): two full blocks
constexpr unsigned kMaxClusterBlocks = 8;
void* fiber_prepare(unsigned index, void (*entry)(void*), void* arg);
bool stack_guard_owner(const void* address, unsigned* index);
extern "C" void cnn_emu_switch(void** save_sp, void* load_sp);

// block.cpp
// Run one cluster's blocks together (one block, without clusters): `blocks` of `block_threads`
// threads each, their block indices `block_idx`, each with `shared_bytes` of dynamic shared memory.
Status run_block(unsigned block_threads, unsigned blocks, const uint3* block_idx, size_t shared_bytes);
Thread* current_thread();

// launch.cpp
void set_error(Status status, const char* format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace cnn_emu
