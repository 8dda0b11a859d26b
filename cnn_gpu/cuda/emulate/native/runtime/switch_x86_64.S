// cnn_emu_switch(void** save_sp, void* load_sp): suspend the caller, resume the fiber at load_sp.
// Saves what the System V ABI says a call preserves: rbx, rbp, r12-r15, the stack pointer, and the
// MXCSR and x87 control words.
    .text
    .globl cnn_emu_switch
    .type cnn_emu_switch, @function
cnn_emu_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size cnn_emu_switch, .-cnn_emu_switch

// A new fiber's first `ret` lands here with r12 = entry and r13 = its argument (fiber_prepare).
// `.cfi_undefined rip` ends a debugger's backtrace here instead of walking off the fiber's stack.
    .globl cnn_emu_fiber_entry
    .type cnn_emu_fiber_entry, @function
cnn_emu_fiber_entry:
    .cfi_startproc
    .cfi_undefined rip
    movq %r13, %rdi
    callq *%r12
    ud2
    .cfi_endproc
    .size cnn_emu_fiber_entry, .-cnn_emu_fiber_entry

    .section .note.GNU-stack,"",@progbits
