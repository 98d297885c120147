/*
 * bench/shim.h: the C workloads behind build/bench/greenrun-bench.
 *
 * Every workload is a plain C function that uses only pthreads and POSIX, so the very same code
 * runs natively and under LD_PRELOAD=build/libgreenrun.so. The Google Benchmark driver (main.cc)
 * calls a workload with a number of operations. The workload sets itself up (threads, fds,
 * buffers), releases its threads, performs the operations, takes the wall-clock time from the
 * release to the moment the last operation finished (CLOCK_MONOTONIC), tears down, and checks
 * its own result (counts, payloads). Setup and teardown are outside the timed region.
 *
 * A workload returns 0, or -1 with a one-line reason in r->err when its correctness check fails
 * or a call it depends on fails. main.cc turns that into a benchmark error, which the report
 * prints as "failed: <reason>".
 */
#ifndef GR_BENCH_SHIM_H
#define GR_BENCH_SHIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WL_MAX_METRICS 8

struct wl_params {
    long ops;    /* operations to perform: round trips, lock/unlock pairs, sleeps */
    int threads; /* worker threads, for workloads that take a count */
    long arg;    /* workload specific (documented per workload below) */
};

struct wl_metric {
    const char *name; /* a string literal */
    double value;
};

struct wl_result {
    int64_t wall_ns; /* wall-clock length of the timed region */
    long ops_done;   /* operations actually performed in the timed region */
    int nmetrics;
    struct wl_metric metrics[WL_MAX_METRICS]; /* extra numbers, e.g. mean sleep length */
    char err[192];                            /* reason, when the workload returns -1 */
};

typedef int (*wl_fn)(const struct wl_params *p, struct wl_result *r);

/*
 * Threads (wl_thread.c).
 * create_join: ops = threads created and joined, one at a time.
 * yield_pingpong: ops = round trips of a turn flag; the waiting side calls sched_yield().
 * sleepers: threads threads sleep arg times for 1 ms each; ops is ignored.
 * timedwait_expire: ops = timed condvar waits that expire after arg µs, spread over threads.
 */
int wl_create_join(const struct wl_params *p, struct wl_result *r);
int wl_yield_pingpong(const struct wl_params *p, struct wl_result *r);
int wl_sleepers(const struct wl_params *p, struct wl_result *r);
int wl_timedwait_expire(const struct wl_params *p, struct wl_result *r);

/*
 * Synchronisation (wl_sync.c).
 * condvar_pingpong, sem_pingpong: ops = round trips between two threads.
 * mutex_uncontended: ops = lock/unlock pairs in one thread.
 * mutex_contended: ops = lock/unlock pairs, spread over threads.
 * rwlock_readmostly: ops spread over threads; one operation in arg is a write.
 */
int wl_condvar_pingpong(const struct wl_params *p, struct wl_result *r);
int wl_sem_pingpong(const struct wl_params *p, struct wl_result *r);
int wl_mutex_uncontended(const struct wl_params *p, struct wl_result *r);
int wl_mutex_contended(const struct wl_params *p, struct wl_result *r);
int wl_rwlock_readmostly(const struct wl_params *p, struct wl_result *r);

/*
 * Promptness under CPU-bound load (wl_latency.c).
 * cpu_latency: threads churners compute while the main thread runs ops rounds, each creating a
 *   probe thread and sleeping arg ms; a ticker sleeps 1 ms over and over. ops_done = ticks.
 */
int wl_cpu_latency(const struct wl_params *p, struct wl_result *r);
/* spin_latency: threads spinners pass a turn around a ring on an atomic, never yielding, while
 *   the main thread sleeps 1 ms ops times. ops_done = ticks. */
int wl_spin_latency(const struct wl_params *p, struct wl_result *r);

/* File descriptors (wl_io.c): ops = round trips of an 8-byte message. */
int wl_pipe_pingpong(const struct wl_params *p, struct wl_result *r);
int wl_socketpair_pingpong(const struct wl_params *p, struct wl_result *r);

/*
 * Allocator (wl_malloc.c; each workload's comment there says what it measures).
 * malloc_fastpath: ops = malloc+free pairs of arg bytes (64 if 0), one thread.
 * malloc_local, malloc_cross: ops = malloc/free pairs; malloc_cross allocates and frees on two
 *   different threads.
 * larson: ops = free+malloc pairs over threads lanes; a lane's thread hands over to a new
 *   thread every arg operations (10000 if 0).
 * prodcons: ops = blocks through a queue from threads / 2 producers to the other threads, in
 *   batches of arg (64 if 0).
 * fragmentation: ops = blocks in the first phase (one thread); the metrics live_kb and
 *   rss_after_kb are the memory held and the RSS growth after the third phase.
 * realloc_growth: ops = realloc calls, spread over threads.
 * large_blocks: ops = free+malloc of 64 KiB..4 MiB blocks with every page written, spread over
 *   threads.
 */
int wl_malloc_fastpath(const struct wl_params *p, struct wl_result *r);
int wl_malloc_local(const struct wl_params *p, struct wl_result *r);
int wl_malloc_cross(const struct wl_params *p, struct wl_result *r);
int wl_larson(const struct wl_params *p, struct wl_result *r);
int wl_prodcons(const struct wl_params *p, struct wl_result *r);
int wl_fragmentation(const struct wl_params *p, struct wl_result *r);
int wl_realloc_growth(const struct wl_params *p, struct wl_result *r);
int wl_large_blocks(const struct wl_params *p, struct wl_result *r);

#ifdef __cplusplus
}
#endif

#endif /* GR_BENCH_SHIM_H */
