/*
 * greenrun.h: what a program may ask libgreenrun.so itself.
 *
 * Unmodified programs never need this header: greenrun serves them through the POSIX calls
 * they already make. A program (or a test) that wants to know or say more, and still run
 * without greenrun, looks each function up at run time, for example
 *     int (*info)(pthread_t, struct greenrun_thread_info *, size_t) =
 *         dlsym(RTLD_DEFAULT, "greenrun_thread_info");
 * and takes NULL to mean "greenrun is not loaded". Every name here starts with greenrun_ or
 * GREENRUN_; scripts/check-exports.sh exports exactly the functions marked GREENRUN_API.
 */
#ifndef GREENRUN_H
#define GREENRUN_H

#include <pthread.h>
#include <stddef.h>

#define GREENRUN_API __attribute__((visibility("default")))

/* What a green thread is doing (struct greenrun_thread_info.state). */
enum greenrun_thread_state {
    GREENRUN_THREAD_RUNNABLE = 1, /* ready, waiting for a processor */
    GREENRUN_THREAD_RUNNING,      /* running on an OS thread (os_tid) */
    GREENRUN_THREAD_WAITING,      /* parked by greenrun; wait_reason says on what */
    GREENRUN_THREAD_SYSCALL,      /* in a call that may sleep in the kernel, on os_tid */
    GREENRUN_THREAD_EXITED,       /* finished, not yet joined (or detached and going) */
};

struct greenrun_thread_info {
    int state;               /* enum greenrun_thread_state */
    const char *wait_reason; /* WAITING: "mutex", "cond", "sem", "IO read", "sleep", "join",
                                "futex"...; else NULL. A static string: it stays valid. */
    int os_tid;              /* RUNNING and SYSCALL: the kernel's id of its OS thread; else 0 */
    int os_asleep;           /* SYSCALL: 1 when that OS thread sleeps in the kernel now */
};

/*
 * Fill *info about thread; size is sizeof(*info) (fields may be added at the end later).
 * Returns 0, ESRCH when thread is not a green thread (greenrun is running natively, or the
 * thread was made by glibc itself), EINVAL for a size this version does not know. The thread
 * must not have been joined yet (as for pthread_kill). The answer is a snapshot: by the time
 * it is read the thread may have moved on.
 */
GREENRUN_API int greenrun_thread_info(pthread_t thread, struct greenrun_thread_info *info,
                                      size_t size);

/*
 * Write a dump of every green thread to fd, as SIGQUIT does (README "Thread dump"): for each,
 * its id, name, state and wait reason, how long it has been in that state, the OS thread and
 * processor it is on, and a backtrace. Returns 0, ESRCH when greenrun is not running, or the
 * error of a write that failed. Any thread may call it but a signal handler; the calling
 * thread is shown running the dump, with its backtrace.
 */
GREENRUN_API int greenrun_dump(int fd);

/* ---- The leak check (GREENRUN_GC=leak; collect runs as leak until it is built).
 *
 * Without greenrun (a native run) these names are not defined: look them up with dlsym as
 * above and fall back, for example
 *     void *(*noscan)(size_t) = dlsym(RTLD_DEFAULT, "greenrun_malloc_noscan");
 *     char *text = noscan != NULL ? noscan(len) : malloc(len);
 * greenrun.pc links nothing, so a program built with it runs with or without greenrun.
 */

/* GREENRUN_GC's modes (struct greenrun_gc_stats.mode). */
enum greenrun_gc_mode {
    GREENRUN_GC_OFF = 0,
    GREENRUN_GC_LEAK,
    GREENRUN_GC_COLLECT,
};

/*
 * malloc(size) for an object that holds no pointer the program needs followed (text,
 * numbers, pixels): the leak check does not read it, which is cheaper on a large heap and
 * keeps an integer that looks like an address from keeping memory alive. A pointer stored
 * in it anyway does not count: what only it reaches is reported as lost. Free it with free();
 * realloc returns an ordinary object. Under GREENRUN_GC=off, a plain malloc. There is no
 * pointer-bitmap variant yet: an object with some pointers is allocated with malloc.
 */
GREENRUN_API void *greenrun_malloc_noscan(size_t size);

/*
 * Run the leak check now: the report goes to stderr (and its JSON to GREENRUN_GC_REPORT.N,
 * as GREENRUN_GC_REPORT_SIGNAL's does), nothing is freed, the program goes on when it ends.
 * Waits for a check under way. Returns 0, ENOSYS when GREENRUN_GC is off, ESRCH when
 * greenrun is not running. Not from a signal handler.
 */
GREENRUN_API int greenrun_gc(void);

struct greenrun_gc_stats {
    int mode;                          /* enum greenrun_gc_mode */
    unsigned long long checks;         /* checks run so far (greenrun_gc, the signal) */
    unsigned long long live_objects;   /* objects in use at the last check */
    unsigned long long leaked_objects; /* of them, those nothing reached */
    unsigned long long leaked_bytes;   /* their bytes, as asked for */
    unsigned long long sites;          /* distinct allocation stacks recorded so far */
    unsigned long long last_pause_ns;  /* how long the last check held allocation up */
};

/* Fill *stats; size is sizeof(*stats). 0, EINVAL for a size this version does not know,
 * ESRCH when greenrun is not running. The counters are zero before the first check. */
GREENRUN_API int greenrun_gc_stats(struct greenrun_gc_stats *stats, size_t size);

#endif /* GREENRUN_H */
