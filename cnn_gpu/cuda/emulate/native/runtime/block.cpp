// One block (or one thread-block cluster's blocks, together): their threads as fibers, the
// scheduler that picks which one runs, barriers, warp operations and cp.async queues.
//
// A thread runs until it reaches a barrier, a warp operation, a wait_until whose condition does not
// hold yet, or its end, then switches back to the scheduler, which resumes a runnable thread chosen
// by the launch's order:
//   forward  the lowest-numbered (warp 0 runs as far as it can before warp 1 starts),
//   reverse  the highest-numbered,
//   random   any, from a generator seeded by the launch (reruns are reproducible).
// For a writer and a reader in one barrier interval, one of forward and reverse runs the reader's
// whole segment before the writer's, so a missing barrier changes the result deterministically.
#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "internal.h"

namespace cnn_emu {
namespace {

constexpr unsigned kWarps = kMaxThreads / 32;
constexpr unsigned kWords = kMaxThreads / 64;

constexpr unsigned kGranules = CNN_EMU_MAX_DYNAMIC_SHARED / 16;

struct Block {
    std::vector<Thread> threads = std::vector<Thread>(kMaxThreads);
    unsigned count = 0;       // threads in the cluster (in the block, without one)
    unsigned live = 0;        // threads that have not exited
    // Per block of the cluster: its threads still running, those waiting at __syncthreads, its index.
    unsigned blocks = 1, block_threads = 0;
    unsigned block_live[kMaxClusterBlocks] = {}, at_barrier[kMaxClusterBlocks] = {};
    uint3 block_idx[kMaxClusterBlocks] = {};
    unsigned at_cluster_barrier = 0;  // threads arrived in the cluster barrier's current phase
    unsigned cluster_phase = 0;       // the phases the cluster barrier has completed
    // The dynamic shared memory of the blocks not running now (their rank is not live_rank).
    unsigned live_rank = 0;
    size_t shared_bytes = 0;
    std::vector<unsigned char> aside[kMaxClusterBlocks];
    uint64_t runnable[kWords] = {};
    unsigned warp_lanes[kWarps] = {};    // lanes that exist (the last warp may be partial)
    unsigned warp_waiting[kWarps] = {};  // lanes waiting at a warp operation
    unsigned warp_exited[kWarps] = {};
    std::vector<unsigned char> staging;  // warp operation inputs, copied before any output is written
    // 1 + the thread whose cp.async wrote each 16-byte granule of a block's dynamic shared memory
    // (block rank * kGranules + granule) and has not fenced it for the async proxy since
    // (proxy_fence), or 0.
    std::vector<uint16_t> unfenced = std::vector<uint16_t>(size_t(kMaxClusterBlocks) * kGranules);
    Thread* current = nullptr;
    void* scheduler_sp = nullptr;
    Status failed = Status::ok;
} block;

void set_runnable(unsigned i) { block.runnable[i / 64] |= uint64_t{1} << (i % 64); }

// Put block `rank`'s dynamic shared memory in the buffer (the kernel's pointers all point there).
void make_live(unsigned rank) {
    if (rank == block.live_rank) return;
    std::memcpy(block.aside[block.live_rank].data(), cnn_emu_dynamic_shared, block.shared_bytes);
    std::memcpy(cnn_emu_dynamic_shared, block.aside[rank].data(), block.shared_bytes);
    block.live_rank = rank;
}
void clear_runnable(unsigned i) { block.runnable[i / 64] &= ~(uint64_t{1} << (i % 64)); }

int pick_next() {
    const unsigned words = (block.count + 63) / 64;
    switch (g_launch.order) {
        case Order::forward:
            for (unsigned w = 0; w < words; ++w)
                if (block.runnable[w]) return int(w * 64 + __builtin_ctzll(block.runnable[w]));
            return -1;
        case Order::reverse:
            for (unsigned w = words; w-- > 0;)
                if (block.runnable[w]) return int(w * 64 + 63 - __builtin_clzll(block.runnable[w]));
            return -1;
        case Order::random: {
            unsigned total = 0;
            for (unsigned w = 0; w < words; ++w) total += __builtin_popcountll(block.runnable[w]);
            if (total == 0) return -1;
            unsigned k = unsigned(g_launch.rng.next() % total);
            for (unsigned w = 0;; ++w) {
                uint64_t bits = block.runnable[w];
                unsigned n = __builtin_popcountll(bits);
                if (k >= n) {
                    k -= n;
                    continue;
                }
                while (k--) bits &= bits - 1;  // drop the lowest set bits until the k-th is lowest
                return int(w * 64 + __builtin_ctzll(bits));
            }
        }
    }
    return -1;
}

// Back to the scheduler; returns when the scheduler resumes this thread.
void suspend(Thread& t) { cnn_emu_switch(&t.sp, block.scheduler_sp); }

const char* op_name(WarpOp op) {
    switch (op) {
        case WarpOp::sync: return "__syncwarp";
        case WarpOp::shfl_idx: return "__shfl_sync";
        case WarpOp::shfl_up: return "__shfl_up_sync";
        case WarpOp::shfl_down: return "__shfl_down_sync";
        case WarpOp::shfl_xor: return "__shfl_xor_sync";
        case WarpOp::ballot: return "a vote (__ballot_sync, __any_sync or __all_sync)";
        case WarpOp::gather: return "cnn_emu::warp_all_gather";
    }
    return "?";
}

[[noreturn]] void fail_with(Status status, const char* format, ...)
    __attribute__((format(printf, 2, 3)));

[[noreturn]] void fail_with(Status status, const char* format, ...) {
    char text[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    Thread& t = *block.current;
    set_error(status, "%s (thread (%u,%u,%u) of block (%u,%u,%u))", text, t.idx.x, t.idx.y,
              t.idx.z, cnn_emu_block_idx.x, cnn_emu_block_idx.y, cnn_emu_block_idx.z);
    block.failed = status;
    suspend(t);  // never resumed: the scheduler sees `failed` and ends the launch
    __builtin_unreachable();
}

// The source lane of a shuffle for `lane`, or -1 for "the lane's own value".
int shuffle_source(WarpOp op, unsigned lane, int arg, int width) {
    const int base = int(lane) & ~(width - 1);
    switch (op) {
        case WarpOp::shfl_idx: return base + (arg & (width - 1));
        case WarpOp::shfl_up: return int(lane) - arg >= base ? int(lane) - arg : -1;
        case WarpOp::shfl_down: return int(lane) + arg < base + width ? int(lane) + arg : -1;
        case WarpOp::shfl_xor: return (int(lane) ^ arg) < base + width ? int(lane) ^ arg : -1;
        default: return -1;
    }
}

// Runs when every lane of `mask` waits at the same warp operation: computes every lane's result,
// then makes them all runnable again.
void complete_warp_op(unsigned warp, unsigned mask) {
    Thread* lanes = &block.threads[warp * 32];
    const Thread& last = *block.current;
    for (unsigned m = mask; m; m &= m - 1) {
        const Thread& o = lanes[__builtin_ctz(m)];
        if (o.op != last.op || o.bytes != last.bytes)
            fail_with(Status::kernel_error,
                      "lanes of warp %u with mask 0x%08x are at different warp operations: lane "
                      "%u at %s on %d bytes, lane %u at %s on %d bytes",
                      warp, mask, o.linear % 32, op_name(o.op), o.bytes, last.linear % 32,
                      op_name(last.op), last.bytes);
    }
    const size_t bytes = size_t(last.bytes);
    block.staging.resize(32 * bytes);
    unsigned char* in = block.staging.data();
    unsigned votes = 0;
    for (unsigned m = mask; m; m &= m - 1) {
        const unsigned lane = __builtin_ctz(m);
        if (bytes) std::memcpy(in + lane * bytes, lanes[lane].in, bytes);
        if (last.op == WarpOp::ballot && *static_cast<const int*>(lanes[lane].in)) votes |= 1u << lane;
    }
    for (unsigned m = mask; m; m &= m - 1) {
        const unsigned lane = __builtin_ctz(m);
        Thread& o = lanes[lane];
        auto* out = static_cast<unsigned char*>(o.out);
        if (last.op == WarpOp::ballot) {
            std::memcpy(out, &votes, sizeof votes);
        } else if (last.op == WarpOp::gather) {
            for (unsigned j = 0; j < 32; ++j) {
                if (mask >> j & 1) std::memcpy(out + j * bytes, in + j * bytes, bytes);
                else std::memset(out + j * bytes, 0xFF, bytes);
            }
        } else if (last.op != WarpOp::sync) {
            int src = shuffle_source(last.op, lane, o.lane_arg, o.width);
            if (src < 0) src = int(lane);
            // Reading a lane that does not take part is undefined on a GPU: poison, not an error,
            // since code may read such a value and then discard it.
            if (src < 32 && (mask >> src & 1)) std::memcpy(out, in + src * bytes, bytes);
            else std::memset(out, 0xFF, bytes);
        }
        o.wait = Wait::runnable;
        set_runnable(o.linear);
    }
    block.warp_waiting[warp] &= ~mask;
}

// Release the threads of block `rank` waiting at __syncthreads.
void release_barrier(unsigned rank) {
    unsigned count = 0;
    for (unsigned i = 0; i < block.count; ++i)
        if (block.threads[i].wait == Wait::barrier && block.threads[i].cta == rank) count += block.threads[i].predicate;
    const unsigned arrived = block.at_barrier[rank];
    for (unsigned i = 0; i < block.count; ++i) {
        Thread& t = block.threads[i];
        if (t.wait != Wait::barrier || t.cta != rank) continue;
        switch (t.barrier_kind) {
            case BarrierKind::plain: t.barrier_result = 0; break;
            case BarrierKind::count: t.barrier_result = int(count); break;
            case BarrierKind::all: t.barrier_result = count == arrived; break;
            case BarrierKind::any: t.barrier_result = count > 0; break;
        }
        t.wait = Wait::runnable;
        set_runnable(i);
    }
    block.at_barrier[rank] = 0;
}

// Every live thread of the cluster has arrived: the phase completes, and those waiting for it run.
void release_cluster_barrier() {
    for (unsigned i = 0; i < block.count; ++i) {
        Thread& t = block.threads[i];
        if (t.wait != Wait::cluster_barrier) continue;
        t.wait = Wait::runnable;
        set_runnable(i);
    }
    block.at_cluster_barrier = 0;
    block.cluster_phase += 1;
}

void perform(const AsyncCopy& c) {
    std::memcpy(c.dst, c.src, size_t(c.src_bytes));
    std::memset(static_cast<char*>(c.dst) + c.src_bytes, 0, size_t(c.bytes - c.src_bytes));
    const long offset = static_cast<unsigned char*>(c.dst) - cnn_emu_dynamic_shared;
    if (offset < 0 || offset >= CNN_EMU_MAX_DYNAMIC_SHARED) return;  // static shared memory: not tracked
    Thread& t = *block.current;
    for (long g = offset / 16; g <= (offset + c.bytes - 1) / 16; ++g) {
        const unsigned index = t.cta * kGranules + unsigned(g);
        block.unfenced[index] = uint16_t(t.linear + 1);
        t.unfenced_granules.push_back(index);
    }
}

[[noreturn]] void thread_exit(Thread& t) {
    const unsigned warp = t.linear / 32, bit = 1u << (t.linear % 32);
    if (void (*at_exit)(void*) = t.twin_at_exit) {  // may fail the launch: the thread still counts as running
        void* state = t.twin_state;
        t.twin_state = nullptr;
        t.twin_at_exit = nullptr;
        at_exit(state);
    }
    t.wait = Wait::exited;
    clear_runnable(t.linear);
    block.live -= 1;
    if (t.cluster_arrived && t.cluster_phase == block.cluster_phase) block.at_cluster_barrier -= 1;
    block.block_live[t.cta] -= 1;
    block.warp_exited[warp] |= bit;
    t.copies.clear();  // copies still queued at exit are dropped: nothing can wait for them
    for (unsigned m = block.warp_waiting[warp]; m; m &= m - 1) {
        const Thread& o = block.threads[warp * 32 + __builtin_ctz(m)];
        if (o.mask & bit)
            fail_with(Status::kernel_error,
                      "lane %u exited while lane %u waits for it in %s with mask 0x%08x "
                      "(undefined on a GPU) {pc:%p}",
                      t.linear % 32, o.linear % 32, op_name(o.op), o.mask, o.wait_pc);
    }
    if (block.at_barrier[t.cta] > 0 && block.at_barrier[t.cta] == block.block_live[t.cta]) release_barrier(t.cta);
    if (block.at_cluster_barrier > 0 && block.at_cluster_barrier == block.live) release_cluster_barrier();
    suspend(t);
    __builtin_unreachable();
}

void thread_main(void* arg) {
    Thread& t = *static_cast<Thread*>(arg);
    g_launch.spec->body(g_launch.spec->args);
    thread_exit(t);
}

std::string describe_wait(const Thread& t) {
    char text[160];
    switch (t.wait) {
        case Wait::barrier: snprintf(text, sizeof text, "wait at __syncthreads {pc:%p}", t.wait_pc); break;
        case Wait::warp:
            snprintf(text, sizeof text, "wait at %s with mask 0x%08x {pc:%p}", op_name(t.op), t.mask,
                     t.wait_pc);
            break;
        case Wait::condition: snprintf(text, sizeof text, "wait for %s {pc:%p}", t.waiting_for, t.wait_pc); break;
        case Wait::cluster_barrier: snprintf(text, sizeof text, "wait at cluster_wait {pc:%p}", t.wait_pc); break;
        case Wait::exited: return "have exited";
        case Wait::runnable: return "are runnable";
    }
    return text;
}

// No thread can run but some have not exited: say who waits where, in runs of thread numbers.
void report_deadlock() {
    std::string report;
    unsigned lines = 0;
    for (unsigned first = 0; first < block.count;) {
        const Thread& head = block.threads[first];
        std::string what = describe_wait(head);
        unsigned last = first;  // a run of threads of one block, waiting alike
        while (last + 1 < block.count && block.threads[last + 1].cta == head.cta &&
               describe_wait(block.threads[last + 1]) == what)
            ++last;
        if (++lines <= 16) {
            char where[64] = "", range[64];
            if (block.blocks > 1) {  // a cluster: say which of its blocks, threads numbered within it
                const uint3 b = block.block_idx[head.cta];
                snprintf(where, sizeof where, "block (%u,%u,%u) ", b.x, b.y, b.z);
            }
            const unsigned from = first % block.block_threads, to = last % block.block_threads;
            if (first == last) snprintf(range, sizeof range, "\n  %sthread %u ", where, from);
            else snprintf(range, sizeof range, "\n  %sthreads %u-%u ", where, from, to);
            report += range + what;
        }
        first = last + 1;
    }
    if (lines > 16) report += "\n  ...";
    const uint3 b = block.block_idx[0];
    set_error(Status::deadlock,
              "deadlock in %s (%u,%u,%u): no thread can go on (threads numbered x + y*blockDim.x "
              "+ z*blockDim.x*blockDim.y):%s",
              block.blocks > 1 ? "the cluster of block" : "block", b.x, b.y, b.z, report.c_str());
}

Thread& caller() { return *block.current; }

// Nothing can run: make runnable every thread whose wait_until condition now holds; false if none does.
bool wake_ready_waiters() {
    bool woke = false;
    for (unsigned i = 0; i < block.count; ++i) {
        Thread& t = block.threads[i];
        if (t.wait != Wait::condition) continue;
        make_live(t.cta);  // the condition reads the waiter's block's shared memory
        if (t.ready(t.ready_arg)) {
            t.wait = Wait::runnable;
            set_runnable(i);
            woke = true;
        }
    }
    return woke;
}

}  // namespace

Thread* current_thread() { return block.current; }

Status run_block(unsigned block_threads, unsigned blocks, const uint3* block_idx, size_t shared_bytes) {
    const dim3 dim = cnn_emu_block_dim;
    const unsigned thread_count = block_threads * blocks;
    block.count = block.live = thread_count;
    block.blocks = blocks;
    block.block_threads = block_threads;
    block.at_cluster_barrier = block.cluster_phase = 0;
    block.live_rank = 0;
    block.shared_bytes = shared_bytes;
    for (unsigned r = 0; r < blocks; ++r) {
        block.block_live[r] = block_threads;
        block.at_barrier[r] = 0;
        block.block_idx[r] = block_idx[r];
        if (r > 0)  // the others start as the first does (poisoned in checked mode)
            block.aside[r].assign(cnn_emu_dynamic_shared, cnn_emu_dynamic_shared + shared_bytes);
    }
    if (blocks > 1) block.aside[0].resize(shared_bytes);
    block.failed = Status::ok;
    std::memset(block.runnable, 0, sizeof block.runnable);
    std::memset(block.warp_waiting, 0, sizeof block.warp_waiting);
    std::memset(block.warp_exited, 0, sizeof block.warp_exited);
    for (unsigned w = 0; w < kWarps; ++w) {
        const unsigned first = w * 32;
        block.warp_lanes[w] = first >= thread_count     ? 0u
                              : thread_count - first >= 32 ? ~0u
                                                           : (1u << (thread_count - first)) - 1;
    }
    for (unsigned i = 0; i < thread_count; ++i) {
        Thread& t = block.threads[i];
        const unsigned j = i % block_threads;
        t.idx = {j % dim.x, j / dim.x % dim.y, j / (dim.x * dim.y)};
        t.linear = i;
        t.cta = i / block_threads;
        t.wait = Wait::runnable;
        t.cluster_arrived = false;
        t.copies.clear();
        t.group_ends.clear();
        t.unfenced_granules.clear();
        t.twin_state = nullptr;  // left by a failed launch: abandoned with it
        t.twin_at_exit = nullptr;
        t.sp = fiber_prepare(i, thread_main, &t);
        set_runnable(i);
    }
    std::fill(block.unfenced.begin(), block.unfenced.begin() + long(blocks) * kGranules, uint16_t{0});
    for (;;) {
        int next = pick_next();
        if (next < 0 && wake_ready_waiters()) next = pick_next();
        if (next < 0) {
            block.current = nullptr;
            if (block.live == 0) return Status::ok;
            report_deadlock();
            return Status::deadlock;
        }
        Thread& t = block.threads[unsigned(next)];
        block.current = &t;
        make_live(t.cta);
        cnn_emu_thread_idx = t.idx;
        cnn_emu_block_idx = block.block_idx[t.cta];
        cnn_emu_switch(&block.scheduler_sp, t.sp);
        if (block.failed != Status::ok) {
            block.current = nullptr;
            return block.failed;
        }
    }
}

// --- entry points called by kernel code ------------------------------------------------------------

namespace {

void collective(WarpOp op, unsigned mask, const void* in, void* out, int bytes, int lane_arg,
                int width, const void* pc) {
    Thread& t = caller();
    const unsigned warp = t.linear / 32, lane = t.linear % 32, bit = 1u << lane;
    if (!(mask & bit))
        fail_with(Status::kernel_error, "%s with mask 0x%08x, which does not name the calling lane %u {pc:%p}",
                  op_name(op), mask, lane, pc);
    mask &= block.warp_lanes[warp];  // lanes past the end of the block never existed
    if (unsigned gone = mask & block.warp_exited[warp])
        fail_with(Status::kernel_error,
                  "%s with mask 0x%08x names lanes that have exited (0x%08x): undefined on a GPU {pc:%p}",
                  op_name(op), mask, gone, pc);
    if (width < 1 || width > 32 || (width & (width - 1)))
        fail_with(Status::kernel_error, "%s with width %d: it must be a power of 2 from 1 to 32 {pc:%p}",
                  op_name(op), width, pc);
    t.op = op;
    t.mask = mask;
    t.in = in;
    t.out = out;
    t.bytes = bytes;
    t.lane_arg = lane_arg;
    t.width = width;
    t.wait = Wait::warp;
    t.wait_pc = pc;
    clear_runnable(t.linear);
    block.warp_waiting[warp] |= bit;
    if ((block.warp_waiting[warp] & mask) == mask) {
        bool same_group = true;  // lanes of `mask` may still be waiting at an earlier, other group
        for (unsigned m = mask; m; m &= m - 1)
            same_group &= block.threads[warp * 32 + __builtin_ctz(m)].mask == mask;
        if (same_group) complete_warp_op(warp, mask);
    }
    suspend(t);
}

}  // namespace

void warp_collective(WarpOp op, unsigned mask, const void* in, void* out, int bytes, int lane_arg,
                     int width) {
    collective(op, mask, in, out, bytes, lane_arg, width, __builtin_return_address(0));
}

void warp_all_gather(const void* mine, void* all, int bytes) {
    if (bytes < 0) fail_with(Status::kernel_error, "cnn_emu::warp_all_gather with %d bytes", bytes);
    collective(WarpOp::gather, ~0u, mine, all, bytes, 0, 32, __builtin_return_address(0));
}

unsigned active_mask() {
    const unsigned warp = caller().linear / 32;
    return block.warp_lanes[warp] & ~block.warp_exited[warp];
}

int block_barrier(BarrierKind kind, int predicate) {
    Thread& t = caller();
    t.wait = Wait::barrier;
    t.wait_pc = __builtin_return_address(0);
    t.barrier_kind = kind;
    t.predicate = predicate != 0;
    clear_runnable(t.linear);
    if (++block.at_barrier[t.cta] == block.block_live[t.cta]) release_barrier(t.cta);
    suspend(t);
    return t.barrier_result;
}

void async_copy(void* smem_dst, const void* gmem_src, int bytes, int src_bytes) {
    if (bytes < 0 || src_bytes < 0 || src_bytes > bytes)
        fail_with(Status::kernel_error, "cnn_emu::async_copy of %d bytes with src_bytes %d {pc:%p}", bytes,
                  src_bytes, __builtin_return_address(0));
    // cp.async takes both addresses aligned to its size, the source even when src_bytes is 0; a GPU
    // faults on a misaligned one ("misaligned address"), so the twin fails the launch.
    if (bytes > 0 && (reinterpret_cast<std::uintptr_t>(smem_dst) % unsigned(bytes) != 0 ||
                      reinterpret_cast<std::uintptr_t>(gmem_src) % unsigned(bytes) != 0))
        fail_with(Status::kernel_error, "cnn_emu::async_copy of %d bytes from %p to %p: both must be %d-byte "
                  "aligned {pc:%p}", bytes, gmem_src, smem_dst, bytes, __builtin_return_address(0));
    if (g_launch.spec->checked) std::memset(smem_dst, 0xFF, size_t(bytes));
    caller().copies.push_back({smem_dst, gmem_src, bytes, src_bytes});
}

void async_commit_group() {
    Thread& t = caller();
    t.group_ends.push_back(t.copies.size());
}

void async_wait_group(int n) {
    Thread& t = caller();
    if (n < 0)
        fail_with(Status::kernel_error, "cnn_emu::async_wait_group(%d) {pc:%p}", n, __builtin_return_address(0));
    if (t.group_ends.size() <= size_t(n)) return;
    const size_t groups_done = t.group_ends.size() - size_t(n);
    const size_t copies_done = t.group_ends[groups_done - 1];
    for (size_t i = 0; i < copies_done; ++i) perform(t.copies[i]);
    t.copies.erase(t.copies.begin(), t.copies.begin() + long(copies_done));
    t.group_ends.erase(t.group_ends.begin(), t.group_ends.begin() + long(groups_done));
    for (size_t& end : t.group_ends) end -= copies_done;
}

void async_wait_all() {
    async_commit_group();
    async_wait_group(0);
}

void wait_until(bool (*ready)(const void*), const void* arg, const char* what) {
    if (ready(arg)) return;
    Thread& t = caller();
    t.wait = Wait::condition;
    t.wait_pc = __builtin_return_address(0);
    t.ready = ready;
    t.ready_arg = arg;
    t.waiting_for = what;
    clear_runnable(t.linear);
    suspend(t);
}

void proxy_fence() {
    Thread& t = caller();
    for (unsigned g : t.unfenced_granules)
        if (block.unfenced[g] == t.linear + 1) block.unfenced[g] = 0;
    t.unfenced_granules.clear();
}

unsigned unfenced_writer(const void* shared) {
    const long offset = static_cast<const unsigned char*>(shared) - cnn_emu_dynamic_shared;
    if (offset < 0 || offset >= CNN_EMU_MAX_DYNAMIC_SHARED) return 0;
    return block.unfenced[size_t(block.live_rank) * kGranules + size_t(offset / 16)];
}

unsigned cluster_rank() { return caller().cta; }

unsigned live_rank() { return block.live_rank; }

unsigned char* block_shared(unsigned rank) {
    if (rank >= block.blocks) fail_with(Status::kernel_error, "block rank %u in a cluster of %u blocks", rank, block.blocks);
    if (block.block_live[rank] == 0)
        fail_with(Status::kernel_error,
                  "the shared memory of block %u of the cluster, whose threads have all exited: undefined on a GPU "
                  "(a cluster barrier before they exit keeps it)", rank);
    return rank == block.live_rank ? cnn_emu_dynamic_shared : block.aside[rank].data();
}

void cluster_arrive() {
    Thread& t = caller();
    if (t.cluster_arrived)
        fail_with(Status::kernel_error, "cluster_arrive again before this thread's cluster_wait: undefined on a GPU "
                  "{pc:%p}", __builtin_return_address(0));
    t.cluster_arrived = true;
    t.cluster_phase = block.cluster_phase;
    if (++block.at_cluster_barrier == block.live) release_cluster_barrier();
}

void cluster_wait() {
    Thread& t = caller();
    if (!t.cluster_arrived)
        fail_with(Status::kernel_error, "cluster_wait without this thread's cluster_arrive before it: undefined on "
                  "a GPU {pc:%p}", __builtin_return_address(0));
    t.cluster_arrived = false;
    if (t.cluster_phase != block.cluster_phase) return;  // its phase has completed already
    t.wait = Wait::cluster_barrier;
    t.wait_pc = __builtin_return_address(0);
    clear_runnable(t.linear);
    suspend(t);
}

void* twin_state() { return caller().twin_state; }

void set_twin_state(void* state, void (*at_exit)(void* state)) {
    Thread& t = caller();
    t.twin_state = state;
    t.twin_at_exit = at_exit;
}

void fail(const char* message) {
    fail_with(Status::kernel_error, "%s {pc:%p}", message, __builtin_return_address(0));
}

}  // namespace cnn_emu
