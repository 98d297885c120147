/*
 * bench/util.c: clocks, /proc readers, the start gate and result recorders (see util.h).
 */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t
bu_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
bu_sleep_ns(int64_t ns)
{
    struct timespec req = { ns / 1000000000, ns % 1000000000 };
    struct timespec rem;

    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
}

long
bu_proc_status(pid_t pid, const char *key)
{
    char path[64];
    char line[256];
    size_t klen = strlen(key);
    long value = -1;

    if (pid == 0)
        snprintf(path, sizeof(path), "/proc/self/status");
    else
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            value = strtol(line + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return value;
}

int64_t
bu_proc_cpu_us(pid_t pid)
{
    char path[64];
    char buf[1024];

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';

    /* The command name may hold spaces and parentheses: fields restart after the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    p++;
    /* After ')' come field 3 (state) onwards; utime and stime are fields 14 and 15. */
    unsigned long long utime = 0, stime = 0;
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        field++;
        if (field == 14)
            utime = strtoull(tok, NULL, 10);
        else if (field == 15) {
            stime = strtoull(tok, NULL, 10);
            break;
        }
    }
    if (field != 15)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (int64_t)((utime + stime) * 1000000ULL / (unsigned long long)hz);
}

void
bu_gate_init(struct bu_gate *g, int want)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->all_ready, NULL);
    pthread_cond_init(&g->opened, NULL);
    g->want = want;
    g->ready = 0;
    g->open = 0;
    g->abort = 0;
}

void
bu_gate_destroy(struct bu_gate *g)
{
    pthread_cond_destroy(&g->opened);
    pthread_cond_destroy(&g->all_ready);
    pthread_mutex_destroy(&g->lock);
}

int
bu_gate_arrive(struct bu_gate *g)
{
    pthread_mutex_lock(&g->lock);
    if (++g->ready >= g->want)
        pthread_cond_signal(&g->all_ready);
    while (!g->open)
        pthread_cond_wait(&g->opened, &g->lock);
    int abort = g->abort;
    pthread_mutex_unlock(&g->lock);
    return abort;
}

void
bu_gate_wait_ready(struct bu_gate *g)
{
    pthread_mutex_lock(&g->lock);
    while (g->ready < g->want)
        pthread_cond_wait(&g->all_ready, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

int64_t
bu_gate_open(struct bu_gate *g, int abort)
{
    pthread_mutex_lock(&g->lock);
    g->abort = abort;
    g->open = 1;
    int64_t t = bu_now_ns();
    pthread_cond_broadcast(&g->opened);
    pthread_mutex_unlock(&g->lock);
    return t;
}

int
bu_spawn(pthread_t *tids, int n, void *(*fn)(void *), void *args, size_t arg_size,
         struct bu_gate *g, struct wl_result *r)
{
    for (int i = 0; i < n; i++) {
        int err = pthread_create(&tids[i], NULL, fn, (char *)args + (size_t)i * arg_size);
        if (err != 0) {
            bu_gate_open(g, 1);
            for (int j = 0; j < i; j++)
                pthread_join(tids[j], NULL);
            return bu_fail(r, "pthread_create of thread %d of %d: %s", i + 1, n, strerror(err));
        }
    }
    return 0;
}

int
bu_join_all(pthread_t *tids, int n, struct wl_result *r)
{
    int rc = 0;

    for (int i = 0; i < n; i++) {
        int err = pthread_join(tids[i], NULL);
        if (err != 0 && rc == 0)
            rc = bu_fail(r, "pthread_join of thread %d: %s", i + 1, strerror(err));
    }
    return rc;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

void
bu_sort_i64(int64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_i64);
}

int64_t
bu_quantile(const int64_t *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    if (i >= n)
        i = n - 1;
    return sorted[i];
}

int
bu_fail(struct wl_result *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    return -1;
}

void
bu_metric(struct wl_result *r, const char *name, double value)
{
    if (r->nmetrics >= WL_MAX_METRICS)
        return;
    r->metrics[r->nmetrics].name = name;
    r->metrics[r->nmetrics].value = value;
    r->nmetrics++;
}
