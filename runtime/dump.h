/*
 * runtime/dump.h: the thread dump, Go's SIGQUIT traceback of every goroutine (dump.c).
 */
#ifndef GR_RUNTIME_DUMP_H
#define GR_RUNTIME_DUMP_H

#include <signal.h>
#include <stdbool.h>

/* What SIGQUIT left at its default does (GREENRUN_QUIT). */
enum {
    GR_QUIT_DUMP, /* dump every G to stderr, then keep running (the JVM's way) */
    GR_QUIT_EXIT, /* dump, then exit with status 2 (Go's way) */
};

/* Boot, before the first G runs: remember the mode; take SIGQUIT if its disposition is the
 * default. Context: the booting thread. */
void gr_dump_boot(int quit_mode);

/*
 * Write the dump of every G to fd: 0, or -errno of the first write that failed. Any thread
 * that may call libc (a G, or a thread glibc made); never g0, sysmon or a signal handler.
 * Holds the glock only while it copies what it prints; the unwinding and the writes hold
 * nothing.
 */
int gr_dump_write(int fd);

/* The handler the kernel runs for SIGQUIT while the program leaves it at its default: asks
 * sysmon for a dump (async-signal-safe). */
void gr_dump_sigquit(int sig, siginfo_t *si, void *uc);

/*
 * For the sigaction hook: when the program sets sig to act and the runtime takes that
 * action's place (SIGQUIT at SIG_DFL, once booted), fill *mine with the kernel action to
 * install instead and return true. The hook reports the program's own action back.
 */
bool gr_dump_takes(int sig, const struct sigaction *act, struct sigaction *mine);

/* In a fork child: a dump or a load of libunwind under way in the parent has no thread here
 * to finish it; the child's own SIGQUIT must still dump. */
void gr_dump_fork_child(void);

/* sysmon's round: start the dumping thread when SIGQUIT asked for a dump. */
void gr_dump_sysmon(void);

#endif /* GR_RUNTIME_DUMP_H */
