/*
 * runtime/cancel_amd64.S: the landing pad of an asynchronous cancellation.
 *
 * The SIGCANCEL wrapper (cancel.c) makes the interrupted G "call" gr_cancel_landing once the
 * handler has returned: it pushes the interrupted rip below the 128-byte red zone and points
 * rip here. This saves every register, calls gr_cancel_landed (which unwinds the G), and, if
 * that ever returns, restores them and resumes the interrupted instruction, as preempt_amd64.S.
 *
 * The unwind starts in gr_cancel_landed and passes through here, so this frame describes the
 * interrupted one exactly: it is a signal frame (the return address is the interrupted
 * instruction, not a call's next one), the interrupted rsp is the canonical frame address, and
 * every register the interrupted code may be using is found where it was pushed.
 */
    .text
    .globl  gr_cancel_landing
    .hidden gr_cancel_landing
    .type   gr_cancel_landing, @function
    .p2align 4
gr_cancel_landing:
    .cfi_startproc simple
    .cfi_signal_frame
    /* On entry (%rsp) is the interrupted rip, and the interrupted rsp is 8 + 128 above. */
    .cfi_def_cfa %rsp, 136
    .cfi_offset %rip, -136
    pushfq
    .cfi_adjust_cfa_offset 8
    pushq   %rax
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rax, 0
    pushq   %rcx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rcx, 0
    pushq   %rdx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rdx, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rsi
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rsi, 0
    pushq   %rdi
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rdi, 0
    pushq   %r8
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r8, 0
    pushq   %r9
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r9, 0
    pushq   %r10
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r10, 0
    pushq   %r11
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r11, 0
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r12, 0
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r13, 0
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r14, 0
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r15, 0
    movq    %rsp, %rbp
    .cfi_def_cfa_register %rbp
    movq    gr_xsave_size(%rip), %rax
    subq    %rax, %rsp
    andq    $-64, %rsp
    /* The xsave header must start zeroed for xrstor. */
    xorl    %eax, %eax
    movq    %rax, 512(%rsp)
    movq    %rax, 520(%rsp)
    movq    %rax, 528(%rsp)
    movq    %rax, 536(%rsp)
    movq    %rax, 544(%rsp)
    movq    %rax, 552(%rsp)
    movq    %rax, 560(%rsp)
    movq    %rax, 568(%rsp)
    cld
    cmpb    $0, gr_have_xsave(%rip)
    je      1f
    movl    $-1, %eax
    movl    $-1, %edx
    xsave64 (%rsp)
    call    gr_cancel_landed
    movl    $-1, %eax
    movl    $-1, %edx
    xrstor64 (%rsp)
    jmp     2f
1:
    fxsave64 (%rsp)
    call    gr_cancel_landed
    fxrstor64 (%rsp)
2:
    movq    %rbp, %rsp
    .cfi_def_cfa_register %rsp
    popq    %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r15
    popq    %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r14
    popq    %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r13
    popq    %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r12
    popq    %r11
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r11
    popq    %r10
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r10
    popq    %r9
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r9
    popq    %r8
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r8
    popq    %rdi
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rdi
    popq    %rsi
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rsi
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rdx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rdx
    popq    %rcx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rcx
    popq    %rax
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rax
    popfq
    .cfi_adjust_cfa_offset -8
    ret     $128
    .cfi_endproc
    .size   gr_cancel_landing, .-gr_cancel_landing

    .section .note.GNU-stack,"",@progbits
