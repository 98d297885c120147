/*
 * runtime/trace.h: the scheduler's timeline (GREENRUN_TRACE=path), in the trace-event JSON
 * format that Perfetto and chrome://tracing load.
 *
 * Each M records compact binary events into a buffer of its own and turns them into JSON at
 * safe points; a writer M writes the text; trace.c's header has the file's layout and the
 * hand-over.
 * With tracing off, an event site costs one load of gr_trace_on and a branch predicted not
 * taken (GR_TRACE).
 */
#ifndef GR_RUNTIME_TRACE_H
#define GR_RUNTIME_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/atomic.h"
#include "runtime/base.h"

struct m;

/* What an event records; x, a and b of gr_trace mean what each line says. */
enum {
    GR_EV_GO_CREATE = 1, /* a: the new G, b: its creator (0: none) */
    GR_EV_GO_START,      /* a: the G an M switches to (opens its run slice) */
    GR_EV_GO_STOP,       /* x: AFTER_* of the switch, a: the G, b: its wait reason (a string
                            literal) when it parks; closes the run slice */
    GR_EV_READY,         /* a: the G readied, b: the G that readied it (0: the scheduler),
                            x: 1 when the netpoller readied it */
    GR_EV_SYSCALL_ENTER, /* a: the G (opens a syscall slice) */
    GR_EV_SYSCALL_EXIT,  /* a: the G, x: 1 when its P was handed on meanwhile */
    GR_EV_HANDOFF,       /* x: the P handed on from a blocking call */
    GR_EV_STEAL,         /* x: the victim P, a: Gs taken, b: the thief P */
    GR_EV_NETPOLL,       /* a: Gs the poll readied */
    GR_EV_TIMER,         /* a: the G it readies (0: none), b: how late it fired, in ns */
    GR_EV_GC,            /* x: the phase; kept for the collector, which emits it when it
                            starts and ends a phase (docs/design.md), nothing else does */
    GR_EV_COUNT,
};

/* atomic: 1 while tracing; set by gr_trace_open before boot, cleared by gr_trace_finish. */
extern struct gr_atomic_u8 gr_trace_on;

/* Record one event on the calling M. Context: any M, user G or g0, locks held or not; never
 * blocks nor allocates (a full buffer drops the event and counts it); a hand-over to the
 * writer costs a futex wake. */
void gr_trace_emit(uint32_t kind, uint32_t x, uint64_t a, uint64_t b);

/* An event site: a macro, so that with tracing off not even the arguments are evaluated. */
#define GR_TRACE(kind, x, a, b)                         \
    do {                                                \
        if (gr_unlikely(gr_load_relaxed(&gr_trace_on))) \
            gr_trace_emit((kind), (x), (a), (b));       \
    } while (0)

/*
 * Turn mp's records into JSON when its buffer is half full (trace.c). Context: a point where
 * the M holds no lock and may block in write(2) (back-pressure when the writer falls behind):
 * the scheduler loop on g0, a G in syscall mode, sysmon's loop.
 */
void gr_trace_flush_due(struct m *mp);

static inline void
gr_trace_safepoint(struct m *mp)
{
    if (gr_unlikely(gr_load_relaxed(&gr_trace_on)))
        gr_trace_flush_due(mp);
}

/* Start the M that writes the trace (trace.c). Context: boot, after sysmon; a no-op when
 * tracing is off. */
void gr_trace_start_writer(void);

/*
 * Create the trace file from pattern (%p: the process id, %%: a percent sign), O_EXCL, mode
 * 0600, and start tracing. Returns 0 or -errno (the file is not created; tracing stays off).
 * Context: the constructor, before boot.
 */
int gr_trace_open(const char *pattern);
/* Flush every M's buffer, close the open slices and the JSON array. Context: exit, once. */
void gr_trace_finish(void);
/* In a fork child: the trace is the parent's (and so is the writer); stop recording and
 * close the descriptor. */
void gr_trace_fork_child(void);

#endif /* GR_RUNTIME_TRACE_H */
