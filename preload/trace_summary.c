/*
 * preload/trace_summary.c: `greenrun trace summarize FILE`, the top facts of a trace that
 * GREENRUN_TRACE wrote (runtime/trace.c has the format).
 *
 * The reader knows the lines the runtime writes, one trace-event object per line, and looks
 * each key up by name; it is not a general JSON parser. Events of different Ms interleave in
 * the file in chunks, so they are sorted by time before anything is matched: a ready with the
 * next start of the same G (scheduling latency), a syscall begin with its end on the same M.
 *
 * This is launcher code, an ordinary program: stdio and malloc are fine.
 */
#include "preload/trace_summary.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TOP 5 /* entries in each "longest" list */

enum kind {
    K_OTHER,
    K_CREATE,
    K_EXIT,
    K_READY,
    K_RUN_B,
    K_RUN_E,
    K_SYS_B,
    K_SYS_E,
    K_HANDOFF,
    K_STEAL,
    K_NETPOLL,
    K_TIMER,
    K_DROPPED,
};

struct ev {
    double ts; /* microseconds */
    long seq;  /* position in the file: ties keep it */
    int tid;
    enum kind kind;
    uint64_t g;
    uint64_t n; /* handoff flag, Gs readied, records dropped */
    char reason[48];
};

/* Per-G state, in an open-addressing table keyed by G id. */
struct gstat {
    uint64_t g; /* 0: empty slot */
    double ready_ts;
    bool pending; /* readied, not started since */
    double max_wait;
    double sum_wait;
    long nwait;
};

struct gtab {
    struct gstat *slot;
    size_t cap; /* a power of two */
    size_t len;
};

/* Per-M (track) state. */
struct mstat {
    int tid;
    long runs;
    double busy;      /* microseconds inside G run slices */
    double run_since; /* begin of the open run slice, or -1 */
    double sys_since; /* begin of the open syscall slice, or -1 */
    uint64_t sys_g;
};

struct sys_call {
    double dur;
    double at;
    int tid;
    uint64_t g;
    bool handoff;
};

struct reason_count {
    char reason[48];
    long n;
};

static void __attribute__((noreturn)) out_of_memory(void)
{
    fputs("greenrun: trace summarize: out of memory\n", stderr);
    exit(1);
}

static void *
xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL)
        out_of_memory();
    return p;
}

/* ---- Reading one line. */

/* The text after "key": in line, or NULL. */
static const char *
field(const char *line, const char *key)
{
    char pat[40];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\":", key);
    p = strstr(line, pat);
    return p != NULL ? p + strlen(pat) : NULL;
}

static uint64_t
num_field(const char *line, const char *key)
{
    const char *p = field(line, key);

    return p != NULL ? strtoull(p, NULL, 10) : 0;
}

/* Copy the string value of key into out (escapes kept as written). */
static void
str_field(const char *line, const char *key, char *out, size_t cap)
{
    const char *p = field(line, key);
    size_t n = 0;

    out[0] = '\0';
    if (p == NULL || *p != '"')
        return;
    for (p++; *p != '\0' && *p != '"' && n + 1 < cap; p++) {
        if (*p == '\\' && p[1] != '\0')
            out[n++] = *++p;
        else
            out[n++] = *p;
    }
    out[n] = '\0';
}

static bool
parse_line(const char *line, struct ev *e)
{
    char ph[4], name[32];
    const char *ts = field(line, "ts");

    str_field(line, "ph", ph, sizeof(ph));
    str_field(line, "name", name, sizeof(name));
    if (ts == NULL || ph[0] == '\0' || ph[0] == 'M')
        return false;
    memset(e, 0, sizeof(*e));
    e->ts = strtod(ts, NULL);
    e->tid = (int)num_field(line, "tid");
    e->g = num_field(line, "g");
    if (ph[0] == 'B' || ph[0] == 'E') {
        bool sys = strcmp(name, "syscall") == 0;
        e->kind = ph[0] == 'B' ? (sys ? K_SYS_B : K_RUN_B) : (sys ? K_SYS_E : K_RUN_E);
        if (sys)
            e->n = num_field(line, "handoff");
        else if (ph[0] == 'E')
            str_field(line, "reason", e->reason, sizeof(e->reason));
        return true;
    }
    static const struct {
        const char *name;
        enum kind kind;
    } instants[] = {
        { "create", K_CREATE },   { "exit", K_EXIT },       { "ready", K_READY },
        { "handoff", K_HANDOFF }, { "steal", K_STEAL },     { "netpoll", K_NETPOLL },
        { "timer", K_TIMER },     { "dropped", K_DROPPED },
    };
    e->kind = K_OTHER;
    for (size_t i = 0; i < sizeof(instants) / sizeof(instants[0]); i++)
        if (strcmp(name, instants[i].name) == 0)
            e->kind = instants[i].kind;
    if (e->kind == K_NETPOLL || e->kind == K_DROPPED)
        e->n = num_field(line, "n");
    return true;
}

/* Every event line of the file, in file order; NULL after a message when unreadable. */
static struct ev *
read_events(const char *path, size_t *count)
{
    FILE *f = fopen(path, "r");
    struct ev *evs = NULL;
    size_t n = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;

    if (f == NULL) {
        fprintf(stderr, "greenrun: trace summarize: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    while (getline(&line, &lcap, f) > 0) {
        if (n == cap) {
            cap = cap != 0 ? 2 * cap : 4096;
            evs = xrealloc(evs, cap * sizeof(*evs));
        }
        if (line[0] == '{' && parse_line(line, &evs[n])) {
            evs[n].seq = (long)n;
            n++;
        }
    }
    free(line);
    fclose(f);
    *count = n;
    return evs;
}

/* ---- Tables. */

static struct gstat *
gtab_get(struct gtab *t, uint64_t g)
{
    if (2 * (t->len + 1) > t->cap) {
        struct gtab bigger = { NULL, t->cap != 0 ? 2 * t->cap : 1024, 0 };
        bigger.slot = calloc(bigger.cap, sizeof(struct gstat));
        if (bigger.slot == NULL)
            out_of_memory();
        for (size_t i = 0; i < t->cap; i++) {
            if (t->slot[i].g != 0) {
                size_t j = (size_t)(t->slot[i].g * 0x9e3779b97f4a7c15ull) & (bigger.cap - 1);
                while (bigger.slot[j].g != 0)
                    j = (j + 1) & (bigger.cap - 1);
                bigger.slot[j] = t->slot[i];
                bigger.len++;
            }
        }
        free(t->slot);
        *t = bigger;
    }
    size_t i = (size_t)(g * 0x9e3779b97f4a7c15ull) & (t->cap - 1);
    while (t->slot[i].g != 0 && t->slot[i].g != g)
        i = (i + 1) & (t->cap - 1);
    if (t->slot[i].g == 0) {
        t->slot[i].g = g;
        t->len++;
    }
    return &t->slot[i];
}

static struct mstat *
mstat_get(struct mstat **ms, size_t *n, int tid)
{
    for (size_t i = 0; i < *n; i++)
        if ((*ms)[i].tid == tid)
            return &(*ms)[i];
    *ms = xrealloc(*ms, (*n + 1) * sizeof(**ms));
    struct mstat *m = &(*ms)[(*n)++];
    memset(m, 0, sizeof(*m));
    m->tid = tid;
    m->run_since = -1;
    m->sys_since = -1;
    return m;
}

/* ---- Sorting. */

static int
by_time(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;

    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static int
by_dur_desc(const void *a, const void *b)
{
    const struct sys_call *x = a, *y = b;

    return x->dur > y->dur ? -1 : x->dur < y->dur;
}

static int
by_busy_desc(const void *a, const void *b)
{
    const struct mstat *x = a, *y = b;

    if (x->busy != y->busy)
        return x->busy > y->busy ? -1 : 1;
    return x->tid - y->tid;
}

static int
by_max_wait_desc(const void *a, const void *b)
{
    const struct gstat *x = a, *y = b;

    return x->max_wait > y->max_wait ? -1 : x->max_wait < y->max_wait;
}

static int
by_count_desc(const void *a, const void *b)
{
    const struct reason_count *x = a, *y = b;

    return x->n > y->n ? -1 : x->n < y->n;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double
pct(const double *v, size_t n, int p)
{
    size_t i = (n * (size_t)p + 99) / 100;

    return n == 0 ? 0 : v[i > 0 ? i - 1 : 0];
}

static void
print_dist(FILE *out, const char *what, double *v, size_t n)
{
    double sum = 0;

    qsort(v, n, sizeof(*v), by_value);
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    fprintf(out, "%s: %zu", what, n);
    if (n > 0)
        fprintf(out, ", p50 %.1f us, p99 %.1f us, max %.1f us, total %.1f ms", pct(v, n, 50),
                pct(v, n, 99), v[n - 1], sum / 1000);
    fputc('\n', out);
}

static void
count_reason(struct reason_count **rc, size_t *n, const char *reason)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*rc)[i].reason, reason) == 0) {
            (*rc)[i].n++;
            return;
        }
    }
    *rc = xrealloc(*rc, (*n + 1) * sizeof(**rc));
    snprintf((*rc)[*n].reason, sizeof((*rc)[*n].reason), "%s", reason);
    (*rc)[(*n)++].n = 1;
}

int
gr_trace_summarize(const char *path, FILE *out)
{
    size_t n = 0, nms = 0, nwaits = 0, nsys = 0, nreasons = 0;
    struct ev *evs = read_events(path, &n);
    struct gtab gt = { NULL, 0, 0 };
    struct mstat *ms = NULL;
    double *waits, *sysdur;
    struct sys_call *calls;
    struct reason_count *reasons = NULL;
    long created = 0, exited = 0, readies = 0, handoffs = 0, steals = 0, timers = 0;
    long sys_handoff = 0, parks = 0;
    uint64_t polled = 0, dropped = 0;

    if (evs == NULL)
        return 1;
    if (n == 0) {
        fprintf(stderr, "greenrun: trace summarize: %s: no events (not a GREENRUN_TRACE file?)\n",
                path);
        free(evs);
        return 1;
    }
    qsort(evs, n, sizeof(*evs), by_time);
    waits = xrealloc(NULL, n * sizeof(double));
    sysdur = xrealloc(NULL, n * sizeof(double));
    calls = xrealloc(NULL, n * sizeof(*calls));

    for (size_t i = 0; i < n; i++) {
        struct ev *e = &evs[i];
        struct mstat *m = mstat_get(&ms, &nms, e->tid);
        struct gstat *gs;

        switch (e->kind) {
        case K_CREATE:
            created++;
            break;
        case K_EXIT:
            exited++;
            break;
        case K_READY:
            readies++;
            if (e->g == 0)
                break;
            gs = gtab_get(&gt, e->g);
            gs->ready_ts = e->ts;
            gs->pending = true;
            break;
        case K_RUN_B:
            m->runs++;
            m->run_since = e->ts;
            if (e->g == 0)
                break;
            gs = gtab_get(&gt, e->g);
            if (gs->pending) {
                double w = e->ts - gs->ready_ts;
                gs->pending = false;
                waits[nwaits++] = w;
                gs->sum_wait += w;
                gs->nwait++;
                if (w > gs->max_wait)
                    gs->max_wait = w;
            }
            break;
        case K_RUN_E:
            if (m->run_since >= 0)
                m->busy += e->ts - m->run_since;
            m->run_since = -1;
            if (e->reason[0] != '\0') {
                parks++;
                count_reason(&reasons, &nreasons, e->reason);
            }
            break;
        case K_SYS_B:
            m->sys_since = e->ts;
            m->sys_g = e->g;
            break;
        case K_SYS_E:
            if (m->sys_since >= 0) {
                struct sys_call *c = &calls[nsys];
                c->dur = e->ts - m->sys_since;
                c->at = m->sys_since;
                c->tid = m->tid;
                c->g = m->sys_g;
                c->handoff = e->n != 0;
                sysdur[nsys++] = c->dur;
                sys_handoff += c->handoff;
            }
            m->sys_since = -1;
            break;
        case K_HANDOFF:
            handoffs++;
            break;
        case K_STEAL:
            steals++;
            break;
        case K_NETPOLL:
            polled += e->n;
            break;
        case K_TIMER:
            timers++;
            break;
        case K_DROPPED:
            dropped += e->n;
            break;
        default:
            break;
        }
    }

    double span = evs[n - 1].ts - evs[0].ts;

    fprintf(out, "trace %s: %zu events over %.3f ms on %zu Ms\n", path, n, span / 1000, nms);
    fprintf(out,
            "threads: %ld created, %ld exited; %ld readied, %ld parks, %ld steals, "
            "%llu netpoll wakeups, %ld timer fires, %ld handoffs\n",
            created, exited, readies, parks, steals, (unsigned long long)polled, timers, handoffs);
    if (dropped != 0)
        fprintf(out, "warning: %llu events dropped (a buffer of an M filled between flushes)\n",
                (unsigned long long)dropped);

    fputc('\n', out);
    print_dist(out, "scheduling latency (ready to running)", waits, nwaits);
    struct gstat *gl = xrealloc(NULL, (gt.len + 1) * sizeof(*gl));
    size_t ng = 0;
    for (size_t i = 0; i < gt.cap; i++)
        if (gt.slot[i].g != 0 && gt.slot[i].nwait > 0)
            gl[ng++] = gt.slot[i];
    qsort(gl, ng, sizeof(*gl), by_max_wait_desc);
    for (size_t i = 0; i < ng && i < TOP; i++)
        fprintf(out, "  G%-8llu longest wait %10.1f us, mean %8.1f us over %ld runs\n",
                (unsigned long long)gl[i].g, gl[i].max_wait, gl[i].sum_wait / (double)gl[i].nwait,
                gl[i].nwait);

    fputc('\n', out);
    qsort(calls, nsys, sizeof(*calls), by_dur_desc);
    print_dist(out, "calls in syscall mode", sysdur, nsys);
    fprintf(out, "  of which lost their P to a handoff: %ld\n", sys_handoff);
    for (size_t i = 0; i < nsys && i < TOP; i++)
        fprintf(out, "  G%-8llu on M%-3d %10.1f us at %.3f ms%s\n", (unsigned long long)calls[i].g,
                calls[i].tid, calls[i].dur, (calls[i].at - evs[0].ts) / 1000,
                calls[i].handoff ? ", P handed off" : "");

    fputc('\n', out);
    qsort(reasons, nreasons, sizeof(*reasons), by_count_desc);
    fprintf(out, "parks by reason:\n");
    for (size_t i = 0; i < nreasons && i < 2 * TOP; i++)
        fprintf(out, "  %-24s %ld\n", reasons[i].reason, reasons[i].n);

    fputc('\n', out);
    qsort(ms, nms, sizeof(*ms), by_busy_desc);
    fprintf(out, "Ms, busiest first (time running Gs):\n");
    for (size_t i = 0; i < nms; i++)
        fprintf(out, "  M%-3d %8ld runs, busy %10.3f ms (%5.1f%% of the trace)\n", ms[i].tid,
                ms[i].runs, ms[i].busy / 1000, span > 0 ? 100 * ms[i].busy / span : 0.0);

    free(gl);
    free(reasons);
    free(calls);
    free(sysdur);
    free(waits);
    free(ms);
    free(gt.slot);
    free(evs);
    return 0;
}
