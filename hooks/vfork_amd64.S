/*
 * hooks/vfork_amd64.S: vfork for x86_64.
 *
 * The child of vfork runs on the calling G's stack, with its TLS, in the parent's memory,
 * until it calls execve or _exit; the parent's M sleeps meanwhile. A C function cannot be
 * the interposer: the child would return through a frame the parent later returns through
 * again. So, as glibc does, the return address is kept in a register across the system call
 * (the child overwrites the stack below the caller's frame) and pushed back afterwards.
 * gr_vfork_enter (hooks/spawn.c) sets the G's vfork flag, which makes every hook a plain call
 * of glibc's function in the child, and puts the G in syscall mode so sysmon hands its P on
 * while the parent waits; gr_vfork_leave undoes both in the parent and sets errno.
 */
    .text

    .globl  vfork
    .type   vfork, @function
    .p2align 4
/* pid_t vfork(void) */
vfork:
    .cfi_startproc
    subq    $8, %rsp                /* align the stack for the call */
    .cfi_adjust_cfa_offset 8
    call    gr_vfork_enter
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq    %rdi                    /* the return address, in a register the kernel keeps */
    .cfi_adjust_cfa_offset -8
    .cfi_register %rip, %rdi
    movl    $58, %eax               /* SYS_vfork */
    syscall
    pushq   %rdi
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rip, 0
    testq   %rax, %rax
    jz      1f                      /* the child: touch nothing, return 0 */
    movq    %rax, %rdi
    subq    $8, %rsp
    .cfi_adjust_cfa_offset 8
    call    gr_vfork_leave          /* the parent, after the child's exec or exit */
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
1:
    ret
    .cfi_endproc
    .size   vfork, .-vfork

    .section .note.GNU-stack, "", @progbits
