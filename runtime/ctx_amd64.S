/*
 * runtime/ctx_amd64.S: context switch for x86_64 (System V ABI).
 *
 * Frame left on a suspended stack, from the saved stack pointer upwards:
 *     0: mxcsr (4 bytes), x87 control word (2 bytes), padding
 *     8: r15, r14, r13, r12, rbx, rbp
 *    56: return address
 * gr_ctx_make (ctx_amd64.c) builds the same frame for a new context, with r12 = argument,
 * r13 = entry point and the return address pointing at gr_ctx_trampoline.
 */
    .text

    .globl  gr_ctx_switch
    .hidden gr_ctx_switch
    .type   gr_ctx_switch, @function
    .p2align 4
/* void gr_ctx_switch(struct gr_ctx *save, struct gr_ctx *load) */
gr_ctx_switch:
    .cfi_startproc
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    subq    $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    (%rsi), %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   gr_ctx_switch, .-gr_ctx_switch

    .globl  gr_ctx_trampoline
    .hidden gr_ctx_trampoline
    .type   gr_ctx_trampoline, @function
    .p2align 4
/* First code of a new context: entry(arg), which never returns. */
gr_ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip          /* the bottom of the stack: unwinders stop here */
    xorl    %ebp, %ebp
    movq    %r12, %rdi
    callq   *%r13
    ud2
    .cfi_endproc
    .size   gr_ctx_trampoline, .-gr_ctx_trampoline

    .section .note.GNU-stack, "", @progbits
