/*
 * bench/util.h: helpers shared by the bench workloads and the bench programs.
 *
 * Clocks, /proc readers, a start gate that releases a group of threads at once, a percentile
 * helper and the failure/metric recorders that fill a struct wl_result. Plain C and POSIX only.
 */
#ifndef GR_BENCH_UTIL_H
#define GR_BENCH_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shim.h"

/* Monotonic clock in nanoseconds. */
int64_t bu_now_ns(void);

/* Sleep for ns nanoseconds, resuming after signals. */
void bu_sleep_ns(int64_t ns);

/*
 * Read "Key:   value kB" (or a plain number) from /proc/<pid>/status; pid 0 means this process.
 * Returns the value, or -1 when the file or the key is missing.
 */
long bu_proc_status(pid_t pid, const char *key);

/* utime + stime of a whole process from /proc/<pid>/stat, in microseconds; -1 on failure. */
int64_t bu_proc_cpu_us(pid_t pid);

/*
 * A start gate. want threads call bu_gate_arrive(); the coordinator waits for all of them with
 * bu_gate_wait_ready() and releases them at once with bu_gate_open(), which returns the release
 * time. If abort is set at opening, arrive() returns 1 and the thread must exit without working.
 */
struct bu_gate {
    pthread_mutex_t lock;
    pthread_cond_t all_ready; /* signalled when ready reaches want */
    pthread_cond_t opened;    /* broadcast by bu_gate_open() */
    int want;                 /* protected by lock */
    int ready;                /* protected by lock */
    int open;                 /* protected by lock */
    int abort;                /* protected by lock */
};

void bu_gate_init(struct bu_gate *g, int want);
void bu_gate_destroy(struct bu_gate *g);
int bu_gate_arrive(struct bu_gate *g);
void bu_gate_wait_ready(struct bu_gate *g);
int64_t bu_gate_open(struct bu_gate *g, int abort);

/*
 * Start n threads, thread i running fn((char *)args + i * arg_size), each of which must call
 * bu_gate_arrive(g) first. On a pthread_create failure, open the gate with abort set, join the
 * threads already started, record the reason in r and return -1; otherwise return 0.
 */
int bu_spawn(pthread_t *tids, int n, void *(*fn)(void *), void *args, size_t arg_size,
             struct bu_gate *g, struct wl_result *r);

/* Join n threads; record the first failure in r and return -1, or return 0. */
int bu_join_all(pthread_t *tids, int n, struct wl_result *r);

/* Sort v[0..n) in place. */
void bu_sort_i64(int64_t *v, size_t n);

/* The q-quantile (0 <= q <= 1) of a sorted array; 0 when n is 0. */
int64_t bu_quantile(const int64_t *sorted, size_t n, double q);

/* Record a failure reason in r and return -1. */
int bu_fail(struct wl_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append a named metric to r; name must be a string literal. */
void bu_metric(struct wl_result *r, const char *name, double value);

/* Cheap per-thread pseudo-random numbers (xorshift64*). *state must start non-zero. */
static inline uint64_t
bu_rand(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

#endif /* GR_BENCH_UTIL_H */
