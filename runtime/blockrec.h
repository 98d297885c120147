/*
 * runtime/blockrec.h: the record of blocking calls the runtime never saw.
 *
 * sysmon (sysmon.c) finds an M asleep in the kernel while it holds a P whose schedule has not
 * moved: a glibc-internal system call, or a `syscall` instruction of some library. It tells
 * this module when it first saw such a call and when it saw it end; the module keeps one entry
 * per site, the pair (system call number, user return address), and prints them at exit
 * (GREENRUN_DEBUG=blocking). Calls the hooks run in syscall mode are not recorded here.
 */
#ifndef GR_RUNTIME_BLOCKREC_H
#define GR_RUNTIME_BLOCKREC_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Parse one read of /proc/<tid>/syscall ("NR a1 ... a6 sp pc", "-1 sp pc" or "running").
 * True with *nr and *pc when the thread is blocked (nr -1: blocked outside a system call,
 * a page fault for instance); false when it runs or the text is not understood.
 * Context: any; no-alloc.
 */
bool gr_blockrec_parse(const char *text, long *nr, uintptr_t *pc);

/* The "system call number" of a site where a G ran on and on where the preemption signal may
 * not stop it (in libc, ld.so or the runtime): a blocking site of its own kind. */
#define GR_BLOCKREC_RUNNING (-2L)

/*
 * The M of P number pid has been asleep, since at least `since`, in call nr made from pc.
 * At most one call is open per P; a second begin replaces nothing (it is ignored).
 * Context: sysmon; no-alloc.
 */
void gr_blockrec_begin(int32_t pid, long nr, uintptr_t pc, int64_t since);
/* The open call of P pid, if any, was seen over at now: add it to its site. Context: sysmon. */
void gr_blockrec_end(int32_t pid, int64_t now);

/*
 * Print one line per site to stderr, the longest total first; calls still open count up to
 * now. Resolves each pc with dladdr. Context: the thread running exit's destructors (a G or
 * a thread the runtime does not own, never g0).
 */
void gr_blockrec_report(void);

/* In a fork child: forget the parent's records; the lock may have been held by sysmon. */
void gr_blockrec_fork_child(void);

#endif /* GR_RUNTIME_BLOCKREC_H */
