// cnn_emu_switch(void** save_sp, void* load_sp): suspend the caller, resume the fiber at load_sp.
// Saves what AAPCS64 says a call preserves: x19-x29, the link register x30, d8-d15, the stack
// pointer, and the floating-point control register.
    .text
    .globl cnn_emu_switch
    .type cnn_emu_switch, %function
cnn_emu_switch:
    sub sp, sp, #176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x9, sp
    str x9, [x0]
    mov sp, x1
    ldr x9, [sp, #160]
    msr fpcr, x9
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #176
    ret
    .size cnn_emu_switch, .-cnn_emu_switch

// A new fiber's first `ret` lands here with x19 = entry and x20 = its argument (fiber_prepare).
    .globl cnn_emu_fiber_entry
    .type cnn_emu_fiber_entry, %function
cnn_emu_fiber_entry:
    .cfi_startproc
    .cfi_undefined x30
    mov x0, x20
    blr x19
    brk #0
    .cfi_endproc
    .size cnn_emu_fiber_entry, .-cnn_emu_fiber_entry

    .section .note.GNU-stack,"",%progbits
