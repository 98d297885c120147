/*
 * runtime/cancel_amd64.S: the landing pad of an asynchronous cancellation.
 *
 * The SIGCANCEL wrapper (cancel.c) points the interrupted G at gr_cancel_landing once the
 * handler has returned; it saves the registers and calls gr_cancel_landed, which unwinds the
 * G through the pad's frame, described as the interrupted one (runtime/landing_amd64.inc). If
 * that ever returns, the registers are restored and the interrupted instruction resumes.
 */
#include "runtime/landing_amd64.inc"

    GR_LANDING_PAD gr_cancel_landing, gr_cancel_landed

    .section .note.GNU-stack, "", @progbits
