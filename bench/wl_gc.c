/*
 * bench/wl_gc.c: the leak check's workloads (GREENRUN_GC=leak), through greenrun.h's calls
 * found with dlsym: they need greenrun preloaded with the leak mode on, and fail otherwise.
 *
 * gc_report  a heap of p->ops live small objects (a linked list of 32-byte nodes reachable
 *            from a static) and 1,000 lost ones from ten allocation stacks; the timed region
 *            is one greenrun_gc(): the stop, the mark, the tally and the report (ten stacks,
 *            symbolized, to stderr). Metric pause_ms: the part with allocation held up.
 * gc_mark    the same list of p->ops nodes, checked by greenrun_gc(); then, in the same
 *            process, the same shape in Debian's bdwgc (libgc.so.1, loaded with dlopen:
 *            GC_init, GC_malloc of each 32-byte node, the head in a static) collected by
 *            GC_gcollect. Each side's second pass is measured (the first warms it). Metrics:
 *            greenrun_mb_s (the list's bytes over the leak check's pause) and bdwgc_mb_s (the
 *            same bytes over GC_gcollect's wall time). The timed region is greenrun's check.
 *            Without libgc.so.1 bdwgc_mb_s is absent.
 * The allocation fast path with the leak mode on is malloc_fastpath (wl_malloc.c) run under
 * GREENRUN_GC=leak (scripts/gc-bench.sh).
 */
#include "shim.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define LOST_SITES 10
#define LOST_EACH  100

/* greenrun.h's, copied: the benchmarks include nothing of greenrun. */
struct gc_stats {
    int mode;
    unsigned long long checks, live_objects, leaked_objects, leaked_bytes, sites, last_pause_ns;
};

struct node {
    struct node *next;
    uint64_t payload[3];
};

static struct node *greenrun_list; /* the live list in greenrun's heap */
static struct node *bdwgc_list;    /* the same shape in bdwgc's */
static void *volatile sink;

static int (*gc_run)(void);
static int (*gc_stats)(struct gc_stats *, size_t);

static int
find_api(struct wl_result *r)
{
    struct gc_stats st;

    gc_run = (int (*)(void))dlsym(RTLD_DEFAULT, "greenrun_gc");
    gc_stats = (int (*)(struct gc_stats *, size_t))dlsym(RTLD_DEFAULT, "greenrun_gc_stats");
    if (gc_run == NULL || gc_stats == NULL)
        return bu_fail(r, "needs greenrun preloaded (greenrun_gc not found)");
    if (gc_stats(&st, sizeof(st)) != 0 || st.mode == 0)
        return bu_fail(r, "needs GREENRUN_GC=leak");
    return 0;
}

static int
build_list(struct node **head, long n, void *(*alloc)(size_t))
{
    *head = NULL;
    for (long i = 0; i < n; i++) {
        struct node *x = alloc(sizeof(*x));
        if (x == NULL)
            return -1;
        x->next = *head;
        x->payload[0] = (uint64_t)i;
        x->payload[1] = x->payload[2] = 0;
        *head = x;
    }
    return 0;
}

static void
free_list(struct node *x)
{
    while (x != NULL) {
        struct node *next = x->next;
        free(x);
        x = next;
    }
}

/* Ten distinct allocation stacks for the lost objects. */
#define LOSE(k)                                          \
    static __attribute__((noinline)) void lose_##k(void) \
    {                                                    \
        for (int i = 0; i < LOST_EACH; i++)              \
            sink = malloc(24 + 8 * (k));                 \
        sink = NULL;                                     \
    }
LOSE(0)
LOSE(1)
LOSE(2)
LOSE(3)
LOSE(4)
LOSE(5)
LOSE(6)
LOSE(7)
LOSE(8)
LOSE(9)

int
wl_gc_report(const struct wl_params *p, struct wl_result *r)
{
    static void (*const lose[LOST_SITES])(void) = { lose_0, lose_1, lose_2, lose_3, lose_4,
                                                    lose_5, lose_6, lose_7, lose_8, lose_9 };
    struct gc_stats st;

    if (find_api(r) != 0)
        return -1;
    if (build_list(&greenrun_list, p->ops, malloc) != 0)
        return bu_fail(r, "out of memory building %ld nodes", p->ops);
    for (int k = 0; k < LOST_SITES; k++)
        lose[k]();
    int64_t t0 = bu_now_ns();
    int rc = gc_run();
    r->wall_ns = bu_now_ns() - t0;
    r->ops_done = 1;
    free_list(greenrun_list);
    greenrun_list = NULL;
    if (rc != 0)
        return bu_fail(r, "greenrun_gc: error %d", rc);
    if (gc_stats(&st, sizeof(st)) != 0)
        return bu_fail(r, "greenrun_gc_stats failed");
    /* Most of this run's lost objects (a stale copy of a pointer, in a register or on the
     * stack, keeps one now and then: the scan is conservative there). */
    if (st.leaked_objects < LOST_SITES * LOST_EACH * 9 / 10 ||
        st.live_objects < (unsigned long)p->ops)
        return bu_fail(r, "the check found %llu lost and %llu live objects", st.leaked_objects,
                       st.live_objects);
    bu_metric(r, "pause_ms", (double)st.last_pause_ns / 1e6);
    bu_metric(r, "live_objects", (double)st.live_objects);
    return 0;
}

int
wl_gc_mark(const struct wl_params *p, struct wl_result *r)
{
    double bytes = (double)p->ops * (double)sizeof(struct node);
    struct gc_stats st;

    if (find_api(r) != 0)
        return -1;
    if (build_list(&greenrun_list, p->ops, malloc) != 0)
        return bu_fail(r, "out of memory building %ld nodes", p->ops);
    gc_run(); /* as for bdwgc below, the second check is timed */
    int64_t t0 = bu_now_ns();
    int rc = gc_run();
    r->wall_ns = bu_now_ns() - t0;
    r->ops_done = 1;
    free_list(greenrun_list);
    greenrun_list = NULL;
    if (rc != 0 || gc_stats(&st, sizeof(st)) != 0)
        return bu_fail(r, "greenrun_gc: error %d", rc);
    bu_metric(r, "greenrun_pause_ms", (double)st.last_pause_ns / 1e6);
    bu_metric(r, "greenrun_mb_s", bytes / 1e6 / ((double)st.last_pause_ns / 1e9));

    /* bdwgc, same shape. Loaded once; its heap stays (the list is dropped after). */
    static void (*gc_init)(void);
    static void *(*gc_malloc)(size_t);
    static void (*gc_gcollect)(void);
    if (gc_init == NULL) {
        void *h = dlopen("libgc.so.1", RTLD_NOW | RTLD_LOCAL);
        if (h == NULL)
            return 0; /* no bdwgc_mb_s: libgc1 is not installed */
        gc_malloc = (void *(*)(size_t))dlsym(h, "GC_malloc");
        gc_gcollect = (void (*)(void))dlsym(h, "GC_gcollect");
        gc_init = (void (*)(void))dlsym(h, "GC_init");
        if (gc_init == NULL || gc_malloc == NULL || gc_gcollect == NULL)
            return bu_fail(r, "libgc.so.1 lacks GC_init, GC_malloc or GC_gcollect");
        gc_init();
    }
    if (build_list(&bdwgc_list, p->ops, gc_malloc) != 0)
        return bu_fail(r, "bdwgc: out of memory building %ld nodes", p->ops);
    gc_gcollect(); /* the first collection after the build also sweeps what it freed */
    int64_t t1 = bu_now_ns();
    gc_gcollect();
    int64_t bdwgc_ns = bu_now_ns() - t1;
    long kept = 0;
    for (struct node *x = bdwgc_list; x != NULL; x = x->next)
        kept++;
    bdwgc_list = NULL;
    if (kept != p->ops)
        return bu_fail(r, "bdwgc kept %ld of %ld nodes", kept, p->ops);
    bu_metric(r, "bdwgc_ms", (double)bdwgc_ns / 1e6);
    bu_metric(r, "bdwgc_mb_s", bytes / 1e6 / ((double)bdwgc_ns / 1e9));
    return 0;
}
