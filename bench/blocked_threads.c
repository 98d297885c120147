/*
 * bench/blocked_threads.c: how many blocked threads one process holds, and their memory.
 *
 * Usage: blocked-threads -n TARGET [-t SECONDS] [-m RESERVE_MIB]
 * Creates threads with default attributes until TARGET are blocked, pthread_create fails,
 * SECONDS (default 120) have passed, or the machine's MemAvailable falls below RESERVE_MIB
 * (default 2048, so that the run never drives the machine into the OOM killer). Whichever
 * stopped creation is reported as stopped_by. Each thread announces itself and blocks in
 * pthread_cond_wait on one shared condvar. Once every created thread is blocked, the program
 * reads its own VmRSS and OS thread count, releases all threads with one broadcast, joins
 * them, and checks that every one ran to its end.
 *
 * Prints one JSON object: threads held, RSS growth per thread (bytes), OS threads, the time to
 * create and to release+join. {"ok": false, "error": "..."} and exit 1 on a failed check.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_blocked = PTHREAD_COND_INITIALIZER; /* signalled at blocked == want */
static pthread_cond_t release = PTHREAD_COND_INITIALIZER;
static long blocked;   /* protected by lock */
static long want = -1; /* protected by lock; -1 while threads are still being created */
static int released;   /* protected by lock */
static long finished;  /* atomic */

/* MemAvailable from /proc/meminfo in MiB, or -1. */
static long
mem_available_mib(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/meminfo", "r");

    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "MemAvailable:", 13) == 0) {
            kb = strtol(line + 13, NULL, 10);
            break;
        }
    }
    if (f != NULL)
        fclose(f);
    return kb < 0 ? -1 : kb / 1024;
}

static void *
blocker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    blocked++;
    if (blocked == want)
        pthread_cond_signal(&all_blocked);
    while (!released)
        pthread_cond_wait(&release, &lock);
    pthread_mutex_unlock(&lock);
    __atomic_fetch_add(&finished, 1, __ATOMIC_RELAXED);
    return NULL;
}

/* Which of the interesting preloaded libraries this process maps ("none" if none). */
static const char *
mapped_libraries(void)
{
    static char out[64];
    char line[512];
    int greenrun = 0, jemalloc = 0;
    FILE *f = fopen("/proc/self/maps", "r");

    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        greenrun |= strstr(line, "libgreenrun") != NULL;
        jemalloc |= strstr(line, "libjemalloc") != NULL;
    }
    if (f != NULL)
        fclose(f);
    snprintf(out, sizeof(out), "%s%s%s", greenrun ? "libgreenrun" : "",
             greenrun && jemalloc ? "," : "", jemalloc ? "libjemalloc" : "");
    return out[0] != '\0' ? out : "none";
}

int
main(int argc, char **argv)
{
    long target = 1000;
    double budget = 120.0;
    long reserve_mib = 2048;
    int o;

    while ((o = getopt(argc, argv, "n:t:m:")) != -1) {
        if (o == 'n')
            target = atol(optarg);
        else if (o == 't')
            budget = atof(optarg);
        else if (o == 'm')
            reserve_mib = atol(optarg);
        else {
            fprintf(stderr, "usage: blocked-threads -n TARGET [-t SECONDS] [-m RESERVE_MIB]\n");
            return 2;
        }
    }
    pthread_t *tids = malloc((size_t)target * sizeof(*tids));
    if (tids == NULL) {
        printf("{\"ok\": false, \"error\": \"out of memory for %ld thread ids\"}\n", target);
        return 1;
    }
    /* Touch the id array now so its pages are not counted as per-thread memory. Not with
     * zeros: the compiler turns malloc+memset(0) into calloc, which leaves fresh pages alone,
     * and the array's 8 bytes per thread then counted in every configuration's figure. */
    memset(tids, 0xff, (size_t)target * sizeof(*tids));

    long rss0 = bu_proc_status(0, "VmRSS");
    int64_t t0 = bu_now_ns();
    int64_t deadline = t0 + (int64_t)(budget * 1e9);
    long held = 0;
    const char *stop = "target reached";
    char why[128];
    while (held < target) {
        int err = pthread_create(&tids[held], NULL, blocker, NULL);
        if (err != 0) {
            snprintf(why, sizeof(why), "pthread_create: %s", strerror(err));
            stop = why;
            break;
        }
        held++;
        if ((held & 1023) == 0 && bu_now_ns() > deadline) {
            snprintf(why, sizeof(why), "time budget of %.0f s", budget);
            stop = why;
            break;
        }
        if ((held & 8191) == 0) {
            long avail = mem_available_mib();
            if (avail >= 0 && avail < reserve_mib) {
                snprintf(why, sizeof(why), "memory: MemAvailable under %ld MiB", reserve_mib);
                stop = why;
                break;
            }
        }
    }
    pthread_mutex_lock(&lock);
    want = held;
    while (blocked < held)
        pthread_cond_wait(&all_blocked, &lock);
    pthread_mutex_unlock(&lock);
    int64_t t1 = bu_now_ns();

    long rss = bu_proc_status(0, "VmRSS");
    long os_threads = bu_proc_status(0, "Threads");
    long vm_size = bu_proc_status(0, "VmSize");

    pthread_mutex_lock(&lock);
    released = 1;
    pthread_cond_broadcast(&release);
    pthread_mutex_unlock(&lock);
    for (long i = 0; i < held; i++) {
        int err = pthread_join(tids[i], NULL);
        if (err != 0) {
            printf("{\"ok\": false, \"error\": \"pthread_join of thread %ld: %s\"}\n", i + 1,
                   strerror(err));
            return 1;
        }
    }
    int64_t t2 = bu_now_ns();
    if (finished != held) {
        printf("{\"ok\": false, \"error\": \"%ld of %ld threads finished\"}\n", finished, held);
        return 1;
    }
    long hwm = bu_proc_status(0, "VmHWM");
    double per = held > 0 ? (double)(rss - rss0) * 1024.0 / (double)held : 0.0;
    printf("{\"ok\": true, \"target\": %ld, \"held\": %ld, \"stopped_by\": \"%s\", "
           "\"rss_base_kb\": %ld, \"rss_kb\": %ld, \"rss_per_thread_bytes\": %.0f, "
           "\"vm_size_kb\": %ld, \"vm_hwm_kb\": %ld, \"os_threads\": %ld, "
           "\"create_s\": %.3f, \"release_join_s\": %.3f, \"preloaded\": \"%s\"}\n",
           target, held, stop, rss0, rss, per, vm_size, hwm, os_threads, (double)(t1 - t0) / 1e9,
           (double)(t2 - t1) / 1e9, mapped_libraries());
    free(tids);
    return 0;
}
