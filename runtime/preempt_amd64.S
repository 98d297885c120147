/*
 * runtime/preempt_amd64.S: the landing pad of an asynchronous preemption.
 *
 * The SIGURG handler (preempt.c) points the interrupted G at gr_async_preempt, which saves
 * its registers, yields the P (gr_preempt_yield) and resumes the interrupted instruction
 * (runtime/landing_amd64.inc).
 */
#include "runtime/landing_amd64.inc"

    GR_LANDING_PAD gr_async_preempt, gr_preempt_yield

    .section .note.GNU-stack, "", @progbits
