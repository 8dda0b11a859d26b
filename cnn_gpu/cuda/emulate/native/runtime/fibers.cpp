// Fibers: one small stack per thread of the block and the initial frame that starts a thread.
//
// The switch itself is hand-written assembly (switch_<arch>.S): it saves the callee-saved registers
// and the floating-point control words on the old stack and restores them from the new one. That
// is all a cooperative switch needs, and it avoids the signal-mask system call ucontext makes on
// every switch: here a whole barrier, two switches and the scheduler's pick, costs ~100 ns a thread.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "internal.h"

extern "C" void cnn_emu_fiber_entry();  // calls entry(arg) with the registers the frame sets up

namespace cnn_emu {
namespace {

constexpr size_t kStackBytes = 64 * 1024;

// All stacks in one mapping, each slot a PROT_NONE guard page below its stack (stacks grow down),
// so an overflow faults instead of running into the next thread's stack.
struct StackPool {
    char* base = nullptr;
    size_t page = 0, slot = 0;

    void map() {
        page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        slot = kStackBytes + page;
        void* p = mmap(nullptr, slot * kMaxThreads, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) abort();
        base = static_cast<char*>(p);
        for (unsigned i = 0; i < kMaxThreads; ++i) mprotect(base + i * slot, page, PROT_NONE);
    }
    char* top(unsigned index) {
        if (!base) map();
        return base + (index + 1) * slot;
    }
} pool;

}  // namespace

void* fiber_prepare(unsigned index, void (*entry)(void*), void* arg) {
    auto* top = reinterpret_cast<uint64_t*>(pool.top(index));
#if defined(__x86_64__)
    // Popped by cnn_emu_switch: mxcsr | x87 control word, r15, r14, r13, r12, rbx, rbp, return.
    uint64_t* sp = top - 8;
    sp[0] = 0x1F80u | (uint64_t{0x037F} << 32);  // round to nearest, exceptions masked, no FTZ
    sp[1] = sp[2] = 0;                            // r15, r14
    sp[3] = reinterpret_cast<uint64_t>(arg);      // r13
    sp[4] = reinterpret_cast<uint64_t>(entry);    // r12
    sp[5] = sp[6] = 0;                            // rbx, rbp
    sp[7] = reinterpret_cast<uint64_t>(&cnn_emu_fiber_entry);
#elif defined(__aarch64__)
    // Loaded by cnn_emu_switch: x19..x30 (pairs), d8..d15, fpcr; 176 bytes.
    uint64_t* sp = top - 22;
    std::memset(sp, 0, 22 * sizeof(uint64_t));
    sp[0] = reinterpret_cast<uint64_t>(entry);   // x19
    sp[1] = reinterpret_cast<uint64_t>(arg);     // x20
    sp[11] = reinterpret_cast<uint64_t>(&cnn_emu_fiber_entry);  // x30, where `ret` goes
#else
#error "the CUDA emulator has a context switch for x86-64 and aarch64 only"
#endif
    return sp;
}

bool stack_guard_owner(const void* address, unsigned* index) {
    auto* a = static_cast<const char*>(address);
    if (!pool.base || a < pool.base || a >= pool.base + pool.slot * kMaxThreads) return false;
    size_t offset = static_cast<size_t>(a - pool.base);
    if (offset % pool.slot >= pool.page) return false;
    *index = static_cast<unsigned>(offset / pool.slot);
    return true;
}

}  // namespace cnn_emu
