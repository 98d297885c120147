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
/*
 * pthread_cancel of gp, whose pthread_t is thread: glibc's own request, then the runtime's
 * part (an asynchronous cancel reaches the M running gp, a cancellable wait of gp ends).
 * 0, or -errno from glibc. Context: any thread.
 */
int gr_cancel(struct g *gp, uintptr_t thread);
/* Back on gp after a switch: act on an asynchronous cancel that missed it. Context: gp. */
void gr_cancel_resumed(struct g *gp);

#endif /* GR_RUNTIME_CANCEL_H */
