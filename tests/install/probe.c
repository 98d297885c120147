/*
 * tests/install/probe.c: the program scripts/check-install.sh builds against the installed
 * greenrun.h (with pkg-config's flags) and runs under the installed launcher.
 *
 * Behaviour: NTHREADS threads wait on one condition variable; once all of them wait, the probe
 * prints one line
 *     probe: green G os_threads T waiting W preload P
 * G is 1 when greenrun_thread_info (looked up with dlsym, as greenrun.h says) answers for a
 * waiting thread, T the entries of /proc/self/task, W that thread's wait reason ("-" when G
 * is 0) and P the LD_PRELOAD it was given. Under greenrun T stays far below NTHREADS; natively
 * it is NTHREADS + 1. Then it wakes and joins every thread and exits 0; any failure exits 1.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <greenrun.h>

#define NTHREADS 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go = PTHREAD_COND_INITIALIZER;
static pthread_cond_t arrived = PTHREAD_COND_INITIALIZER;
static int waiting;  /* protected by lock */
static int released; /* protected by lock */

static void
die(const char *what)
{
    fprintf(stderr, "probe: %s failed\n", what);
    exit(1);
}

static void *
worker(void *arg)
{
    pthread_mutex_lock(&lock);
    waiting++;
    pthread_cond_signal(&arrived);
    while (!released)
        pthread_cond_wait(&go, &lock);
    pthread_mutex_unlock(&lock);
    return arg;
}

static int
count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        die("opendir /proc/self/task");
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n;
}

int
main(void)
{
    __typeof__(&greenrun_thread_info) info_fn = dlsym(RTLD_DEFAULT, "greenrun_thread_info");
    pthread_t threads[NTHREADS];

    for (int i = 0; i < NTHREADS; i++) {
        if (pthread_create(&threads[i], NULL, worker, NULL) != 0)
            die("pthread_create");
    }

    /* Each worker counts itself and waits under the same lock: at NTHREADS all of them wait. */
    pthread_mutex_lock(&lock);
    while (waiting < NTHREADS)
        pthread_cond_wait(&arrived, &lock);
    pthread_mutex_unlock(&lock);

    int tasks = count_tasks();
    struct greenrun_thread_info info;
    int green = info_fn != NULL && info_fn(threads[0], &info, sizeof(info)) == 0;
    const char *reason = "-";

    if (green) {
        if (info.state != GREENRUN_THREAD_WAITING || info.wait_reason == NULL)
            die("greenrun_thread_info of a waiting thread");
        reason = info.wait_reason;
    }
    const char *preload = getenv("LD_PRELOAD");

    printf("probe: green %d os_threads %d waiting %s preload %s\n", green, tasks, reason,
           preload != NULL ? preload : "-");

    pthread_mutex_lock(&lock);
    released = 1;
    pthread_cond_broadcast(&go);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < NTHREADS; i++) {
        if (pthread_join(threads[i], NULL) != 0)
            die("pthread_join");
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
