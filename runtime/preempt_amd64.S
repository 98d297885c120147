/*
 * runtime/preempt_amd64.S: the landing pad of an asynchronous preemption.
 *
 * The SIGURG handler (preempt.c) makes the interrupted G "call" gr_async_preempt: it pushes
 * the interrupted rip below the 128-byte red zone and points rip here. This saves every
 * register the interrupted code may be using (general, flags, and the whole extended state
 * with xsave, or fxsave where xsave is off), yields the P, restores them and returns to the
 * interrupted instruction, popping the red-zone gap with `ret $128`.
 */
    .text
    .globl  gr_async_preempt
    .hidden gr_async_preempt
    .type   gr_async_preempt, @function
    .p2align 4
gr_async_preempt:
    pushfq
    pushq   %rax
    pushq   %rcx
    pushq   %rdx
    pushq   %rbx
    pushq   %rbp
    pushq   %rsi
    pushq   %rdi
    pushq   %r8
    pushq   %r9
    pushq   %r10
    pushq   %r11
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    movq    %rsp, %rbp
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
    call    gr_preempt_yield
    movl    $-1, %eax
    movl    $-1, %edx
    xrstor64 (%rsp)
    jmp     2f
1:
    fxsave64 (%rsp)
    call    gr_preempt_yield
    fxrstor64 (%rsp)
2:
    movq    %rbp, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %r11
    popq    %r10
    popq    %r9
    popq    %r8
    popq    %rdi
    popq    %rsi
    popq    %rbp
    popq    %rbx
    popq    %rdx
    popq    %rcx
    popq    %rax
    popfq
    ret     $128
    .size   gr_async_preempt, .-gr_async_preempt

    .section .note.GNU-stack, "", @progbits
