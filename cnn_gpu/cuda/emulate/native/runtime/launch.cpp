// A launch: the grid loop, shared memory poisoning, the fault handler, and guarded argument buffers.
//
// Blocks run one after another on the calling OS thread, in the schedule's order (forward,
// reverse or a seeded permutation), so a block that reads another block's results is caught too;
// a thread-block cluster's blocks run together (block.cpp), clusters one after another.
// Faults (SIGSEGV, SIGBUS, SIGFPE) during a launch are caught on an alternate signal stack,
// described, and turned into an error by a siglongjmp back here.
#include <dlfcn.h>
#include <link.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <csetjmp>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "internal.h"

extern "C" {
uint3 cnn_emu_thread_idx;
uint3 cnn_emu_block_idx;
dim3 cnn_emu_block_dim;
dim3 cnn_emu_grid_dim;
unsigned long long cnn_emu_float_atomics;
// Page-aligned and a whole number of pages, so the pages past a launch's size can be protected.
alignas(65536) unsigned char cnn_emu_dynamic_shared[(CNN_EMU_MAX_DYNAMIC_SHARED + 65535) / 65536 * 65536];
}

namespace cnn_emu {

LaunchState g_launch;

void set_error(Status status, const char* format, ...) {
    cnn_emu_launch_result* r = g_launch.result;
    if (r->status != int(Status::ok)) return;  // keep the first error
    r->status = int(status);
    va_list args;
    va_start(args, format);
    vsnprintf(r->message, sizeof r->message, format, args);
    va_end(args);
}

namespace {

size_t page_size() { return size_t(sysconf(_SC_PAGESIZE)); }
size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// --- shared memory -----------------------------------------------------------------------------
// `__shared__` variables are thread_local (see cuda_emu.h): the kernel library's TLS segment holds
// exactly its static shared memory, whatever function or template instantiation declares it.

struct TlsSearch {
    const void* code;  // any address in the kernel library
    void* start = nullptr;
    size_t bytes = 0;
};

struct TlsIndex {
    unsigned long module, offset;
};
extern "C" void* __tls_get_addr(TlsIndex*);

int find_tls(dl_phdr_info* info, size_t, void* data) {
    auto* search = static_cast<TlsSearch*>(data);
    const auto code = reinterpret_cast<uintptr_t>(search->code);
    bool contains = false;
    const ElfW(Phdr)* tls = nullptr;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& ph = info->dlpi_phdr[i];
        const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
        if (ph.p_type == PT_LOAD && code >= start && code < start + ph.p_memsz) contains = true;
        if (ph.p_type == PT_TLS) tls = &ph;
    }
    if (!contains) return 0;
    if (tls && tls->p_memsz) {
        TlsIndex index{info->dlpi_tls_modid, 0};
        search->start = __tls_get_addr(&index);  // allocates this OS thread's block if needed
        search->bytes = tls->p_memsz;
    }
    return 1;
}

struct SharedMemory {
    void* static_start = nullptr;
    size_t static_bytes = 0;
    size_t dynamic_bytes = 0;     // rounded up to whole pages
    size_t protected_from = 0;    // first protected page of the dynamic buffer, when checked
    bool guarded = false;

    void setup(const cnn_emu_launch_spec& spec) {
        TlsSearch search{reinterpret_cast<const void*>(spec.body)};
        dl_iterate_phdr(find_tls, &search);
        static_start = search.start;
        static_bytes = search.bytes;
        dynamic_bytes = round_up(spec.shared_bytes, page_size());
        guarded = spec.checked && dynamic_bytes < sizeof cnn_emu_dynamic_shared;
        if (guarded)
            mprotect(cnn_emu_dynamic_shared + dynamic_bytes, sizeof cnn_emu_dynamic_shared - dynamic_bytes,
                     PROT_NONE);
    }
    void poison() const {  // at each block start, checked mode: NaN in every float
        if (static_bytes) std::memset(static_start, 0xFF, static_bytes);
        std::memset(cnn_emu_dynamic_shared, 0xFF, dynamic_bytes);
    }
    bool in_dynamic_guard(const void* address) const {
        const auto* a = static_cast<const unsigned char*>(address);
        return guarded && a >= cnn_emu_dynamic_shared + dynamic_bytes &&
               a < cnn_emu_dynamic_shared + sizeof cnn_emu_dynamic_shared;
    }
    void teardown() const {
        if (guarded)
            mprotect(cnn_emu_dynamic_shared + dynamic_bytes, sizeof cnn_emu_dynamic_shared - dynamic_bytes,
                     PROT_READ | PROT_WRITE);
    }
} shared;

// --- faults --------------------------------------------------------------------------------------

sigjmp_buf fault_jump;
alignas(16) char signal_stack[64 * 1024];
struct sigaction previous[3];
stack_t previous_stack;
constexpr int kSignals[3] = {SIGSEGV, SIGBUS, SIGFPE};

int fault_is_write(void* context) {
#if defined(__x86_64__)
    return (static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_ERR] & 2) ? 1 : 0;
#elif defined(__aarch64__)
    // The kernel appends an esr_context record: bit 6 of a data abort's syndrome is "write".
    auto* mc = &static_cast<ucontext_t*>(context)->uc_mcontext;
    for (size_t at = 0; at + 16 <= sizeof mc->__reserved;) {
        const auto* head = reinterpret_cast<const uint32_t*>(mc->__reserved + at);
        if (head[0] == 0 || head[1] == 0) break;
        if (head[0] == 0x45535201u) return (*reinterpret_cast<const uint64_t*>(head + 2) >> 6) & 1;
        at += head[1];
    }
    return -1;
#endif
}

uintptr_t fault_pc(void* context) {
#if defined(__x86_64__)
    return uintptr_t(static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
    return uintptr_t(static_cast<ucontext_t*>(context)->uc_mcontext.pc);
#endif
}

void on_fault(int signal, siginfo_t* info, void* context) {
    cnn_emu_launch_result* r = g_launch.result;
    const Thread* t = current_thread();
    const uint3 thread = t ? t->idx : uint3{};
    const uint3 blk = cnn_emu_block_idx;
    r->block[0] = blk.x, r->block[1] = blk.y, r->block[2] = blk.z;
    r->thread[0] = thread.x, r->thread[1] = thread.y, r->thread[2] = thread.z;
    r->fault_address = reinterpret_cast<uintptr_t>(info->si_addr);
    r->pc = fault_pc(context);
    r->is_write = signal == SIGFPE ? -1 : fault_is_write(context);
    const char* access = r->is_write == 1 ? "write" : r->is_write == 0 ? "read" : "access";
    char where[96];
    // {pc:} markers hold return addresses, which Python steps back by one byte: hence pc + 1.
    snprintf(where, sizeof where, "in thread (%u,%u,%u) of block (%u,%u,%u) {pc:%p}", thread.x, thread.y,
             thread.z, blk.x, blk.y, blk.z, reinterpret_cast<void*>(r->pc + 1));
    unsigned owner = 0;
    if (signal == SIGFPE) {
        set_error(Status::arithmetic, "%s %s",
                  info->si_code == FPE_INTDIV ? "integer division by zero" : "arithmetic trap", where);
    } else if (stack_guard_owner(info->si_addr, &owner)) {
        set_error(Status::stack_overflow,
                  "stack overflow %s: each emulated thread has a 64 KiB stack (large local arrays "
                  "or deep recursion?)",
                  where);
    } else if (shared.in_dynamic_guard(info->si_addr)) {
        const long offset = static_cast<unsigned char*>(info->si_addr) - cnn_emu_dynamic_shared;
        set_error(Status::shared_out_of_bounds,
                  "out-of-bounds %s of dynamic shared memory at byte %ld, past the %u bytes the "
                  "launch gave (shared_mem) %s",
                  access, offset, g_launch.spec->shared_bytes, where);
    } else {
        set_error(Status::memory_fault, "invalid memory %s at address %p %s", access, info->si_addr, where);
    }
    siglongjmp(fault_jump, 1);
}

void install_fault_handler() {
    stack_t stack{};
    stack.ss_sp = signal_stack;
    stack.ss_size = sizeof signal_stack;
    sigaltstack(&stack, &previous_stack);
    struct sigaction action{};
    action.sa_sigaction = on_fault;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &action, &previous[i]);
}

void restore_fault_handler() {
    for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &previous[i], nullptr);
    sigaltstack(&previous_stack, nullptr);
}

// --- the grid ------------------------------------------------------------------------------------

uint64_t gcd(uint64_t a, uint64_t b) {
    while (b) {
        const uint64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

// Block `k` of `n` in the schedule's order; random is k -> (a*k + c) mod n with a coprime to n.
struct BlockOrder {
    uint64_t n, a = 1, c = 0;
    BlockOrder(uint64_t blocks, Order order, Rng& rng) : n(blocks) {
        if (order != Order::random || n < 2) return;
        do a = 1 + rng.next() % (n - 1);
        while (gcd(a, n) != 1);
        c = rng.next() % n;
    }
    uint64_t operator()(uint64_t k, Order order) const {
        if (order == Order::reverse) return n - 1 - k;
        return uint64_t((static_cast<unsigned __int128>(a) * k + c) % n);
    }
};

Status run_grid(const cnn_emu_launch_spec& spec) {
    // Clusters in the grid of clusters, in the schedule's order; a cluster's blocks by rank, x fastest.
    const unsigned cx = spec.cluster[0], cy = spec.cluster[1], cz = spec.cluster[2];
    const unsigned gx = spec.grid[0] / cx, gy = spec.grid[1] / cy;
    const uint64_t clusters = uint64_t(gx) * gy * (spec.grid[2] / cz);
    const unsigned threads = spec.block[0] * spec.block[1] * spec.block[2], size = cx * cy * cz;
    if (size > 1 && shared.static_bytes > 0) {
        set_error(Status::kernel_error, "a thread-block cluster kernel with static __shared__ memory: the emulator "
                  "runs a cluster's blocks together and keeps one copy of it; use dynamic shared memory");
        return Status::kernel_error;
    }
    const BlockOrder order(clusters, g_launch.order, g_launch.rng);
    for (uint64_t k = 0; k < clusters; ++k) {
        const uint64_t q = order(k, g_launch.order);
        const uint3 first = {unsigned(q % gx) * cx, unsigned(q / gx % gy) * cy, unsigned(q / (uint64_t(gx) * gy)) * cz};
        uint3 block_idx[kMaxClusterBlocks];
        for (unsigned r = 0; r < size; ++r)
            block_idx[r] = {first.x + r % cx, first.y + r / cx % cy, first.z + r / (cx * cy)};
        cnn_emu_block_idx = block_idx[0];
        if (spec.checked) shared.poison();
        const Status status = run_block(threads, size, block_idx, spec.shared_bytes);
        if (status != Status::ok) return status;
    }
    return Status::ok;
}

}  // namespace
}  // namespace cnn_emu

using namespace cnn_emu;

extern "C" int cnn_emu_launch(const cnn_emu_launch_spec* spec, cnn_emu_launch_result* result) {
    std::memset(result, 0, sizeof *result);
    g_launch.spec = spec;
    g_launch.result = result;
    g_launch.order = Order(spec->order);
    g_launch.rng = Rng{spec->seed};
    g_launch.printing = spec->print != 0;
    cnn_emu_float_atomics = 0;
    cnn_emu_grid_dim = dim3(spec->grid[0], spec->grid[1], spec->grid[2]);
    cnn_emu_block_dim = dim3(spec->block[0], spec->block[1], spec->block[2]);
    shared.setup(*spec);
    install_fault_handler();
    if (sigsetjmp(fault_jump, 1) == 0) {
        run_grid(*spec);
    }
    restore_fault_handler();
    shared.teardown();
    fflush(stdout);
    g_launch.printing = true;
    result->float_atomics = cnn_emu_float_atomics;
    return result->status;
}

extern "C" int cnn_emu_printf(const char* format, ...) {
    if (!g_launch.printing) return 0;
    va_list args;
    va_start(args, format);
    const int n = vprintf(format, args);
    va_end(args);
    return n;
}

// A buffer whose data ends flush against a PROT_NONE page, with a guard page before it too. The
// start lies `misalign` bytes (0 to 15) past a 16-byte boundary, as the array it copies did, so that
// a kernel's alignment checks (float4 loads, 16-byte cp.async) see what a GPU would; up to 15 bytes
// of slack follow the data, and at least 64 bytes precede it; both are filled with 0xFF for Python
// to check after the launch.
extern "C" void* cnn_emu_guarded_alloc(size_t bytes, size_t misalign, size_t* mapping_bytes, void** data) {
    const size_t page = page_size(), padded = round_up(misalign + bytes, 16);
    const size_t body = round_up(padded + 64, page);
    *mapping_bytes = body + 2 * page;
    void* p = mmap(nullptr, *mapping_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    auto* base = static_cast<unsigned char*>(p);
    mprotect(base, page, PROT_NONE);
    mprotect(base + page + body, page, PROT_NONE);
    std::memset(base + page, 0xFF, body);
    *data = base + page + body - padded + misalign;
    return p;
}

extern "C" void cnn_emu_guarded_free(void* mapping, size_t mapping_bytes) { munmap(mapping, mapping_bytes); }
