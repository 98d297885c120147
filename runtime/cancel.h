/*
 * runtime/cancel.h: pthread cancellation of Gs (cancel.c).
 */
#ifndef GR_RUNTIME_CANCEL_H
#define GR_RUNTIME_CANCEL_H

#include <stdbool.h>
#include <stdint.h>

struct g;

/* True when gp has a cancellation request it must act on at its next cancellation point:
 * canceled, cancellation enabled, not already exiting. Context: any. */
bool gr_cancel_pending(struct g *gp);
/* True when gp must act on a cancellation request at once, wherever it is: its type is
 * asynchronous, cancellation enabled, requested, not exiting. Context: any. */
bool gr_cancel_async_pending(struct g *gp);
/*
 * pthread_cancel of gp, whose pthread_t is thread: glibc's own request, then the runtime's
 * part (an asynchronous cancel reaches gp wherever it is, a cancellable wait of gp ends).
 * 0, or -errno from glibc. Context: any thread.
 */
int gr_cancel(struct g *gp, uintptr_t thread);
/*
 * Act on a cancellation of the calling thread, deferred or asynchronous, if there is one
 * (unwinds; glibc's pthread_testcancel, which sees only a completed request). The caller
 * holds nothing of the runtime's and has undone its own state. Context: a user G, or any
 * thread.
 */
void gr_cancel_test(void);
/* Act on an asynchronous cancellation of the calling G only: a point where it holds nothing
 * (a hook's entry, a spin or yield loop). Context: user G. */
void gr_cancel_async_point(void);
/* Back on gp after a switch, inside the runtime: note an asynchronous cancellation for its
 * next safe point. Context: gp. */
void gr_cancel_resumed(struct g *gp);
/* sysmon: resend SIGCANCEL to the Ms whose G has a noted asynchronous cancellation. Returns
 * how many have one (sysmon then looks again within a millisecond). */
int gr_cancel_retry(int64_t now);
/* gp's unwind (cancellation, pthread_exit) has reached its bottom frame: restore what the
 * frames it left would have (the M's signal mask after a handler, syscall mode). Context: gp. */
void gr_cancel_unwound(struct g *gp);

#endif /* GR_RUNTIME_CANCEL_H */
