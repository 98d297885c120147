/*
 * bench/syscount.c: per-process system-call counting with the raw_syscalls:sys_enter
 * tracepoint (see syscount.h).
 *
 * Why each thread gets its own counter: perf_event_open counts one thread (and, with inherit,
 * the threads it creates afterwards); there is no counter for "this process" short of counting
 * the whole machine. Why the listing is repeated: a thread created while the counters are
 * being opened is either counted through inheritance (its creator's counter was already open)
 * or not at all; the second listing cannot tell which, so any thread it finds without a
 * counter of its own makes the whole set be opened again. When the second listing finds only
 * threads of the first, every thread has exactly one counter and no thread counts twice.
 */
#include "syscount.h"

#include <dirent.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define OPEN_ATTEMPTS 8

static const char *const id_paths[] = {
    "/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
    "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
};

/* The tracepoint's id from tracefs, or -1 with a reason in why. */
static long long
tracepoint_id(char *why, size_t len)
{
    for (size_t i = 0; i < sizeof(id_paths) / sizeof(id_paths[0]); i++) {
        FILE *f = fopen(id_paths[i], "r");
        long long id = -1;

        if (f == NULL)
            continue;
        if (fscanf(f, "%lld", &id) != 1)
            id = -1;
        fclose(f);
        if (id >= 0)
            return id;
    }
    snprintf(why, len, "no tracefs: %s unreadable", id_paths[0]);
    return -1;
}

/* A counter of tid's system calls and those of the threads it creates from now on. */
static int
open_counter(long long id, pid_t tid)
{
    struct perf_event_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.size = sizeof(attr);
    attr.config = (unsigned long long)id;
    attr.inherit = 1;
    return (int)syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

/* The ids in /proc/self/task into a malloc'ed *tids; their number, or -1. */
static int
list_threads(pid_t **tids)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    pid_t *v = NULL;
    int n = 0, cap = 0;

    *tids = NULL;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            pid_t *nv = realloc(v, (size_t)cap * sizeof(*v));
            if (nv == NULL) {
                free(v);
                closedir(d);
                return -1;
            }
            v = nv;
        }
        v[n++] = (pid_t)atoi(e->d_name);
    }
    closedir(d);
    *tids = v;
    return n;
}

static int
listed(const pid_t *tids, int n, pid_t tid)
{
    for (int i = 0; i < n; i++) {
        if (tids[i] == tid)
            return 1;
    }
    return 0;
}

const char *
bu_syscount_probe(void)
{
    static char why[160];
    long long id = tracepoint_id(why, sizeof(why));

    if (id < 0)
        return why;
    int fd = open_counter(id, 0);
    if (fd < 0) {
        snprintf(why, sizeof(why), "perf_event_open of raw_syscalls:sys_enter: %s",
                 strerror(errno));
        return why;
    }
    close(fd);
    return NULL;
}

int
bu_syscount_open(struct bu_syscount *sc, char *why, size_t len)
{
    long long id = tracepoint_id(why, len);

    sc->fds = NULL;
    sc->nfds = 0;
    if (id < 0)
        return -1;
    for (int attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
        pid_t *before, *after;
        int nbefore = list_threads(&before);
        if (nbefore <= 0) {
            snprintf(why, len, "cannot list /proc/self/task");
            return -1;
        }
        sc->fds = malloc((size_t)nbefore * sizeof(*sc->fds));
        if (sc->fds == NULL) {
            free(before);
            snprintf(why, len, "out of memory");
            return -1;
        }
        for (int i = 0; i < nbefore; i++) {
            int fd = open_counter(id, before[i]);
            if (fd >= 0) {
                sc->fds[sc->nfds++] = fd;
            } else if (errno != ESRCH) { /* ESRCH: the thread ended meanwhile */
                snprintf(why, len, "perf_event_open of raw_syscalls:sys_enter: %s",
                         strerror(errno));
                free(before);
                bu_syscount_close(sc);
                return -1;
            }
        }
        int nafter = list_threads(&after);
        int complete = nafter > 0;
        for (int i = 0; i < nafter && complete; i++)
            complete = listed(before, nbefore, after[i]);
        free(before);
        free(after);
        if (complete)
            return 0;
        bu_syscount_close(sc);
    }
    snprintf(why, len, "threads kept starting while the counters were opened");
    return -1;
}

int64_t
bu_syscount_read(const struct bu_syscount *sc)
{
    int64_t sum = 0;

    for (int i = 0; i < sc->nfds; i++) {
        uint64_t v;
        if (read(sc->fds[i], &v, sizeof(v)) != (ssize_t)sizeof(v))
            return -1;
        sum += (int64_t)v;
    }
    return sum;
}

void
bu_syscount_close(struct bu_syscount *sc)
{
    for (int i = 0; i < sc->nfds; i++)
        close(sc->fds[i]);
    free(sc->fds);
    sc->fds = NULL;
    sc->nfds = 0;
}
