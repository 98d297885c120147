/*
 * bench/syscount.h: count the system calls every thread of this process makes.
 *
 * The counter is the kernel's raw_syscalls:sys_enter tracepoint, opened with perf_event_open
 * once for each thread listed in /proc/self/task, each with inherit set: a thread created
 * later is counted by the counter of the thread that created it. So the sum of the counters
 * covers every thread of the process, those that existed before the counting began (under
 * greenrun: the OS threads that run the green threads, and its monitor thread) and those
 * created while it runs. Every system call is counted, whoever makes it: the workload's,
 * the C library's, the runtime's, and the reads of the counters themselves. Tracepoints need
 * no hardware counters, so this works in virtual machines; it needs a kernel with tracefs and
 * the right to open the event (root, or kernel.perf_event_paranoid permitting).
 *
 * While the counters are open every system call of the process takes the kernel's slower
 * traced path, and creating a thread copies the counters: measure time with them closed.
 */
#ifndef GR_BENCH_SYSCOUNT_H
#define GR_BENCH_SYSCOUNT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bu_syscount {
    int *fds; /* one counter per thread that existed when it was opened */
    int nfds;
};

/*
 * Whether counting can work here: NULL if it can, else a short reason (a static string,
 * e.g. "perf_event_open: Permission denied"). Opens one counter on the calling thread and
 * closes it again.
 */
const char *bu_syscount_probe(void);

/*
 * Open one counter per thread of the process, from now on. Returns 0, or -1 with a reason in
 * why (len bytes). Threads that start or end while it runs are handled: it opens the counters
 * again until a listing of the threads after opening finds no thread without one.
 */
int bu_syscount_open(struct bu_syscount *sc, char *why, size_t len);

/* The system calls counted so far over all threads, or -1 when a counter cannot be read. */
int64_t bu_syscount_read(const struct bu_syscount *sc);

/* Close the counters (a closed or never opened counter set may be closed again). */
void bu_syscount_close(struct bu_syscount *sc);

#ifdef __cplusplus
}
#endif

#endif /* GR_BENCH_SYSCOUNT_H */
