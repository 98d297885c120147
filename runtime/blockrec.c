/*
 * runtime/blockrec.c: the blocking profile (see blockrec.h).
 *
 * Writers: sysmon for unseen and not-preemptible calls (gr_blockrec_begin when it has seen the
 * M asleep twice, at least 1 ms apart, with the P's schedule unmoved; gr_blockrec_end when it
 * sees the P move or the M run), and any G leaving syscall mode after a handoff. Durations of
 * unseen calls therefore run from sysmon's first sighting to the round that saw the end.
 *
 * Sites live in a hash table of chained nodes from the runtime's own memory (mem.c), never
 * freed except by a fork child's reset. A node is allocated before the lock is taken, so
 * nothing under the lock allocates, calls glibc or prints.
 *
 * Invariants:
 *  - the chains hold distinct keys (nr or kind, frames); a node, once linked, stays.
 *  - calls[pid].active means P pid's M is in a recorded call that began at calls[pid].since
 *    and whose count is already in calls[pid].site.
 * Lock: `lock`, a leaf: taken by the writers, the live check and the report's copy.
 */
#include "runtime/blockrec.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

#include "runtime/atomic.h"
#include "runtime/debug.h"
#include "runtime/lock.h"
#include "runtime/m.h"
#include "runtime/mem.h"
#include "runtime/sched.h"
#include "runtime/sys.h"
#include "runtime/unwind.h"

#define MAX_P      GR_ARRAY_LEN(gr_sched.allp)
#define NBUCKETS   256 /* hash chains */
#define HIST_SUB   4   /* histogram buckets per power of two */
#define HIST_LEN   (64 * HIST_SUB)
#define LIVE_RING  64 /* live lines waiting for the reporter */
#define LIVE_PER_S 10 /* live lines printed per second at most */

struct site {
    struct site *next; /* hash chain */
    long nr;           /* system call number; -1: asleep outside one; GR_BLOCKREC_* */
    int nframes;
    /* Innermost first: the pc (unseen, not preemptible) or return address the call was seen
     * at, then its callers' return addresses. A handoff site's first is inside the hook
     * (which names the call), the second where the program called it. */
    uintptr_t frames[GR_BLOCKREC_FRAMES];
    struct gr_frame *sym;    /* frames named by the unwinder (nframes of them), or NULL */
    uint64_t count;          /* calls seen, open ones included */
    uint64_t spares;         /* Ps handed on for them: spare Ps, or the handoff itself */
    int64_t total;           /* ns of the calls that ended */
    int64_t max;             /* ns, the longest that ended */
    int64_t first, last;     /* monotonic ns: first call's start, last call's end */
    uint32_t hist[HIST_LEN]; /* durations of the calls that ended, by hist_index */
};

struct open_call {
    bool active;
    bool lived;   /* its live line was queued */
    uint32_t gen; /* which call of this P: an unwind job names it */
    struct site *site;
    int64_t since;   /* first sighting, monotonic ns */
    uint64_t spares; /* spare Ps started for it, also in site->spares */
    struct gr_blockrec_call c;
};

struct live_line {
    struct site *site;
    int64_t ns; /* how long the call has held its M */
    bool ended; /* a handoff call that ended, or an unseen call still open */
};

static struct gr_mutex lock = GR_MUTEX_INIT(GR_RANK_LEAF);
static struct site *buckets[NBUCKETS]; /* protected by lock */
static uint32_t nsites;                /* protected by lock */
static struct site *spare_node;        /* protected by lock: allocated, not yet linked */
static struct open_call calls[MAX_P];  /* protected by lock; indexed by P id */

static int64_t live_ns;         /* immutable after gr_blockrec_config */
static const char *report_path; /* immutable after gr_blockrec_config */
static int64_t boot_ns;         /* immutable after gr_blockrec_config */

static struct live_line live[LIVE_RING];                                /* protected by lock */
static uint32_t live_head, live_tail;                                   /* protected by lock */
static uint64_t live_dropped;                                           /* protected by lock */
static uint64_t unwind_wanted[(GR_ARRAY_LEN(gr_sched.allp) + 63) / 64]; /* protected by lock:
                                                        Ps whose open call awaits an unwind */
static struct gr_note reporter_note; /* the reporter sleeps here */

/* ---- Recording. */

void
gr_blockrec_config(int64_t live_threshold_ns, const char *path)
{
    live_ns = live_threshold_ns;
    report_path = path;
    boot_ns = gr_nanotime();
}

/* Bucket of a duration: HIST_SUB buckets per power of two, about 19% wide each. */
static int
hist_index(int64_t ns)
{
    uint64_t v = ns > 0 ? (uint64_t)ns : 1;
    int lg = 63 - __builtin_clzll(v);
    int sub = lg >= 2 ? (int)((v >> (lg - 2)) & (HIST_SUB - 1)) : 0;

    return lg * HIST_SUB + sub;
}

/* The upper bound of bucket i, in ns. */
static int64_t
hist_upper(int i)
{
    int lg = i / HIST_SUB, sub = i % HIST_SUB;

    if (lg < 2)
        return (int64_t)2 << lg;
    return (int64_t)((uint64_t)(HIST_SUB + sub + 1) << (lg - 2));
}

static uint32_t
key_hash(long nr, const uintptr_t *frames, int n)
{
    uint64_t h = (uint64_t)nr * 0x9e3779b97f4a7c15ULL;

    for (int i = 0; i < n; i++)
        h = (h ^ frames[i]) * 0xff51afd7ed558ccdULL;
    return (uint32_t)(h >> 40) % NBUCKETS;
}

/* Make sure a node is ready for site_find to link; false when memory ran out.
 * Requires: lock not held. */
static bool
prepare_node(void)
{
    struct site *node;
    bool ready;

    gr_lock(&lock);
    ready = spare_node != NULL;
    gr_unlock(&lock);
    if (ready)
        return true;
    node = gr_mem_alloc(sizeof(*node));
    if (node == NULL)
        return false;
    gr_lock(&lock);
    if (spare_node == NULL) {
        spare_node = node;
        node = NULL;
    }
    gr_unlock(&lock);
    if (node != NULL)
        gr_mem_free(node, sizeof(*node));
    return true;
}

/* The site of the key, linked if new; NULL when no node was ready. Requires: lock held. */
static struct site *
site_find(long nr, const uintptr_t *frames, int n)
{
    uint32_t h = key_hash(nr, frames, n);
    struct site *sp;

    GR_ASSERT_HELD(&lock);
    for (sp = buckets[h]; sp != NULL; sp = sp->next)
        if (sp->nr == nr && sp->nframes == n &&
            memcmp(sp->frames, frames, sizeof(frames[0]) * (size_t)n) == 0)
            return sp;
    sp = spare_node;
    if (sp == NULL)
        return NULL;
    spare_node = NULL;
    memset(sp, 0, sizeof(*sp));
    sp->nr = nr;
    sp->nframes = n;
    memcpy(sp->frames, frames, sizeof(frames[0]) * (size_t)n);
    sp->first = INT64_MAX;
    sp->next = buckets[h];
    buckets[h] = sp;
    nsites++;
    return sp;
}

/*
 * Take the lock and find the key's site, linking a new one if need be. Writers race for the
 * one spare node, so a writer that finds it taken allocates another and tries again. Returns
 * with the lock held; NULL only when memory ran out.
 */
static struct site *
lock_site(long nr, const uintptr_t *frames, int n)
{
    for (;;) {
        bool ok = prepare_node();
        struct site *sp;

        gr_lock(&lock);
        sp = site_find(nr, frames, n);
        if (sp != NULL || !ok)
            return sp;
        gr_unlock(&lock);
    }
}

static void
add_time(struct site *sp, int64_t since, int64_t now)
{
    int64_t ns = now - since;

    if (ns < 0)
        ns = 0;
    sp->total += ns;
    if (ns > sp->max)
        sp->max = ns;
    if (since < sp->first)
        sp->first = since;
    if (now > sp->last)
        sp->last = now;
    sp->hist[hist_index(ns)]++;
}

/* Queue a live line for the reporter. Requires: lock held. */
static void
live_push(struct site *sp, int64_t ns, bool ended)
{
    GR_ASSERT_HELD(&lock);
    if (live_tail - live_head == LIVE_RING) {
        live_dropped++;
        return;
    }
    live[live_tail++ % LIVE_RING] = (struct live_line){ .site = sp, .ns = ns, .ended = ended };
    gr_note_wakeup(&reporter_note);
}

void
gr_blockrec_begin(int32_t pid, const struct gr_blockrec_call *c, int64_t since)
{
    if (pid < 0 || (size_t)pid >= MAX_P)
        return;
    struct site *sp = lock_site(c->nr, &c->pc, 1);

    if (!calls[pid].active) {
        if (sp != NULL) {
            sp->count++;
            if (since < sp->first)
                sp->first = since;
            calls[pid] = (struct open_call){
                .active = true, .gen = calls[pid].gen + 1, .site = sp, .since = since, .c = *c
            };
            if (c->nr != GR_BLOCKREC_RUNNING && c->sp != 0) {
                unwind_wanted[pid / 64] |= 1ULL << (pid % 64);
                gr_note_wakeup(&reporter_note);
            }
        }
    }
    gr_unlock(&lock);
}

void
gr_blockrec_spare(int32_t pid)
{
    if (pid < 0 || (size_t)pid >= MAX_P)
        return;
    gr_lock(&lock);
    if (calls[pid].active) {
        calls[pid].site->spares++;
        calls[pid].spares++;
    }
    gr_unlock(&lock);
}

void
gr_blockrec_end(int32_t pid, int64_t now)
{
    if (pid < 0 || (size_t)pid >= MAX_P)
        return;
    gr_lock(&lock);
    if (calls[pid].active) {
        add_time(calls[pid].site, calls[pid].since, now);
        calls[pid].active = false;
    }
    gr_unlock(&lock);
}

void
gr_blockrec_live(int64_t now)
{
    if (live_ns == 0)
        return;
    gr_lock(&lock);
    for (size_t pid = 0; pid < MAX_P; pid++) {
        struct open_call *c = &calls[pid];
        if (c->active && !c->lived && now - c->since >= live_ns) {
            c->lived = true;
            live_push(c->site, now - c->since, false);
        }
    }
    gr_unlock(&lock);
}

bool
gr_blockrec_handoff(const uintptr_t *frames, int n, int64_t since, int64_t now)
{
    struct site *sp;
    bool unnamed = false;

    if (n < 1)
        return false;
    if (n > GR_BLOCKREC_FRAMES)
        n = GR_BLOCKREC_FRAMES;
    sp = lock_site(GR_BLOCKREC_HANDOFF, frames, n);
    if (sp != NULL) {
        sp->count++;
        sp->spares++;
        add_time(sp, since, now);
        if (live_ns != 0 && now - since >= live_ns)
            live_push(sp, now - since, true);
        unnamed = sp->sym == NULL;
    }
    gr_unlock(&lock);
    return unnamed;
}

void
gr_blockrec_name(const uintptr_t *frames, int n, const struct gr_frame *named, int nnamed)
{
    struct gr_frame *sym;
    struct site *sp;

    if (n < 1 || nnamed < 1)
        return;
    if (n > GR_BLOCKREC_FRAMES)
        n = GR_BLOCKREC_FRAMES;
    sym = gr_mem_alloc(sizeof(*sym) * (size_t)n);
    if (sym == NULL)
        return;
    /* The unwinder's frames in the site's order, matched by pc; one it did not reach keeps
     * no name (dladdr's then). */
    for (int i = 0; i < n; i++) {
        sym[i] = (struct gr_frame){ .pc = frames[i] };
        for (int k = 0; k < nnamed; k++)
            if (named[k].pc == frames[i]) {
                sym[i] = named[k];
                break;
            }
    }
    sp = lock_site(GR_BLOCKREC_HANDOFF, frames, n);
    if (sp != NULL && sp->sym == NULL) {
        sp->sym = sym;
        sym = NULL;
    }
    gr_unlock(&lock);
    if (sym != NULL)
        gr_mem_free(sym, sizeof(*sym) * (size_t)n);
}

void
gr_blockrec_fork_child(void)
{
    gr_lock_reset(&lock);
    memset(buckets, 0, sizeof(buckets));
    memset(calls, 0, sizeof(calls));
    nsites = 0;
    spare_node = NULL;
    live_head = live_tail = 0;
    live_dropped = 0;
}

/* ---- The report. */

/* "301.2ms" below 10 s, "12.3s" above. */
static void
format_ns(char *buf, size_t size, int64_t ns)
{
    if (ns < 10 * GR_NSEC_PER_SEC)
        gr_snprint(buf, size, "%ld.%ldms", (long)(ns / 1000000), (long)(ns / 100000 % 10));
    else
        gr_snprint(buf, size, "%ld.%lds", (long)(ns / GR_NSEC_PER_SEC),
                   (long)(ns / 100000000 % 10));
}

/* Where a pc is: object file (base name), symbol and offsets; false when dladdr knows nothing.
 * pc is a return address, or (ret false) an instruction of its own. */
struct where {
    const char *file;
    const char *sym;   /* NULL: no symbol covers it */
    unsigned long off; /* from sym, or from the object's base */
};

static bool
where_is(uintptr_t pc, bool ret, struct where *w)
{
    Dl_info info;

    /* A return address: look up the byte before it, which belongs to the call. */
    if (pc == 0 || dladdr((void *)(pc - ret), &info) == 0 || info.dli_fname == NULL)
        return false;
    w->file = strrchr(info.dli_fname, '/');
    w->file = w->file != NULL ? w->file + 1 : info.dli_fname;
    w->sym = info.dli_sname != NULL && info.dli_saddr != NULL ? info.dli_sname : NULL;
    w->off = (unsigned long)(pc - (w->sym != NULL ? (uintptr_t)info.dli_saddr :
                                                    (uintptr_t)info.dli_fbase));
    return true;
}

/* where_is for frame i of sp, with the unwinder's name where dladdr has none (a static
 * function, a program linked without -rdynamic). */
static bool
where_frame(const struct site *sp, int i, bool ret, struct where *w)
{
    bool known = where_is(sp->frames[i], ret, w);

    if (sp->sym != NULL && sp->sym[i].name[0] != '\0' && (!known || w->sym == NULL)) {
        if (!known)
            w->file = "?";
        w->sym = sp->sym[i].name;
        w->off = (unsigned long)sp->sym[i].off;
        return true;
    }
    return known;
}

/* " (libc.so.6 read+0x1e)", " (prog+0x1234)" or "" into buf, for frame i of sp. */
static void
describe_frame(char *buf, size_t size, const struct site *sp, int i, bool ret)
{
    struct where w;

    buf[0] = '\0';
    if (!where_frame(sp, i, ret, &w))
        return;
    if (w.sym != NULL)
        gr_snprint(buf, size, " (%s %s+0x%lx)", w.file, w.sym, w.off);
    else
        gr_snprint(buf, size, " (%s+0x%lx)", w.file, w.off);
}

/* The call a site is about: the hooked function of a handoff site (the symbol around its first
 * frame), the system call's name otherwise. */
static const char *
call_name(const struct site *sp)
{
    struct where w;
    const char *name;

    if (sp->nr == GR_BLOCKREC_HANDOFF)
        return where_is(sp->frames[0], true, &w) && w.sym != NULL ? w.sym : "?";
    if (sp->nr == GR_BLOCKREC_RUNNING)
        return "";
    if (sp->nr < 0)
        return "not in a system call";
    name = gr_sys_name(sp->nr);
    return name != NULL ? name : "?";
}

/* The first frame the report shows: where the program called the hook, for a handoff site. */
static int
first_shown(const struct site *sp)
{
    return sp->nr == GR_BLOCKREC_HANDOFF && sp->nframes > 1 ? 1 : 0;
}

/* The duration below which a fraction q of the site's ended calls fell (a bucket's upper
 * bound: about 19% coarse), or 0 when none ended. */
static int64_t
quantile(const struct site *sp, double q)
{
    uint64_t n = 0, want, seen = 0;

    for (int i = 0; i < HIST_LEN; i++)
        n += sp->hist[i];
    if (n == 0)
        return 0;
    want = (uint64_t)(q * (double)n + 0.999999);
    if (want == 0)
        want = 1;
    for (int i = 0; i < HIST_LEN; i++) {
        seen += sp->hist[i];
        if (seen >= want)
            return hist_upper(i) < sp->max ? hist_upper(i) : sp->max;
    }
    return sp->max;
}

static const char *
kind_name(long nr)
{
    if (nr == GR_BLOCKREC_RUNNING)
        return "not preemptible";
    if (nr == GR_BLOCKREC_HANDOFF)
        return "handoff";
    return "unseen";
}

/* A site with the calls still open folded in (up to now), as the report shows it. */
struct shown {
    struct site s;
    uint32_t nopen;
};

static void
print_site(int fd, const struct shown *sh)
{
    const struct site *sp = &sh->s;
    char total[32], max[32], p50[32], p99[32], where[256], still[40], head[96];
    bool ret = sp->nr != GR_BLOCKREC_RUNNING;
    int f = first_shown(sp);

    format_ns(total, sizeof(total), sp->total);
    format_ns(max, sizeof(max), sp->max);
    format_ns(p50, sizeof(p50), quantile(sp, 0.50));
    format_ns(p99, sizeof(p99), quantile(sp, 0.99));
    describe_frame(where, sizeof(where), sp, f, ret);
    still[0] = '\0';
    if (sh->nopen > 0)
        gr_snprint(still, sizeof(still), ", %u still %s", sh->nopen,
                   sp->nr == GR_BLOCKREC_RUNNING ? "running" : "blocked");
    if (sp->nr == GR_BLOCKREC_RUNNING)
        gr_snprint(head, sizeof(head), "not preemptible");
    else if (sp->nr == GR_BLOCKREC_HANDOFF)
        gr_snprint(head, sizeof(head), "handoff %s", call_name(sp));
    else
        gr_snprint(head, sizeof(head), "syscall %ld (%s)", sp->nr, call_name(sp));
    gr_fdprint(fd,
               "greenrun: blocking: %s count %lu total %s max %s p50 %s p99 %s spares %lu pc "
               "%p%s%s\n",
               head, (unsigned long)sp->count, total, max, p50, p99, (unsigned long)sp->spares,
               (void *)sp->frames[f], where, still);
    for (int i = f + 1; i < sp->nframes; i++) {
        describe_frame(where, sizeof(where), sp, i, true);
        gr_fdprint(fd, "greenrun: blocking:     #%d %p%s\n", i - f, (void *)sp->frames[i], where);
    }
}

/* A JSON string: the names written here are file and symbol names, escaped byte by byte. */
static void
jw_string(struct gr_outbuf *j, const char *s)
{
    char out[300];
    size_t n = 0;

    out[n++] = '"';
    for (; *s != '\0' && n < sizeof(out) - 8; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            static const char hex[] = "0123456789abcdef";
            memcpy(out + n, "\\u00", 4);
            out[n + 4] = hex[c >> 4];
            out[n + 5] = hex[c & 15];
            n += 6;
        } else {
            out[n++] = (char)c;
        }
    }
    out[n++] = '"';
    out[n] = '\0';
    gr_outbuf_put(j, "%s", out);
}

/* Seconds since boot with milliseconds, "12.034" (gr_snprint has no field widths). */
static void
format_s(char *buf, size_t size, int64_t t)
{
    int64_t ms = (t - boot_ns) / 1000000;

    if (ms < 0)
        ms = 0;
    gr_snprint(buf, size, "%ld.%ld%ld%ld", (long)(ms / 1000), (long)(ms / 100 % 10),
               (long)(ms / 10 % 10), (long)(ms % 10));
}

static void
json_site(struct gr_outbuf *j, const struct shown *sh, bool first)
{
    const struct site *sp = &sh->s;
    char first_s[32], last_s[32];

    format_s(first_s, sizeof(first_s), sp->first);
    format_s(last_s, sizeof(last_s), sp->last);
    gr_outbuf_put(j, "%s\n    {\"kind\": \"%s\", \"nr\": %ld, \"call\": ", first ? "" : ",",
                  kind_name(sp->nr), sp->nr >= 0 ? sp->nr : -1L);
    jw_string(j, call_name(sp));
    gr_outbuf_put(j,
                  ", \"count\": %lu, \"still_open\": %u, \"total_ns\": %ld, \"max_ns\": %ld, "
                  "\"p50_ns\": %ld, \"p99_ns\": %ld, \"spares\": %lu, \"first_s\": %s, "
                  "\"last_s\": %s, \"frames\": [",
                  (unsigned long)sp->count, sh->nopen, (long)sp->total, (long)sp->max,
                  (long)quantile(sp, 0.50), (long)quantile(sp, 0.99), (unsigned long)sp->spares,
                  first_s, last_s);
    for (int i = first_shown(sp); i < sp->nframes; i++) {
        struct where w;
        bool ret = i > 0 || sp->nr != GR_BLOCKREC_RUNNING;

        gr_outbuf_put(j, "%s{\"pc\": \"%p\"", i == first_shown(sp) ? "" : ", ",
                      (void *)sp->frames[i]);
        if (where_frame(sp, i, ret, &w)) {
            gr_outbuf_put(j, ", \"object\": ");
            jw_string(j, w.file);
            if (w.sym != NULL) {
                gr_outbuf_put(j, ", \"function\": ");
                jw_string(j, w.sym);
            }
            gr_outbuf_put(j, ", \"offset\": %lu", w.off);
        }
        gr_outbuf_put(j, "}");
    }
    gr_outbuf_put(j, "]}");
}

/* GREENRUN_REPORT: a new file (O_EXCL, mode 0600), never for a set-uid program. */
static void
write_json(const struct shown *v, uint32_t n)
{
    struct gr_outbuf *j;
    char up[32];
    int fd;

    if (report_path == NULL)
        return;
    if (getauxval(AT_SECURE) != 0) {
        gr_print("greenrun: GREENRUN_REPORT ignored: the program runs with privileges "
                 "(AT_SECURE)\n");
        return;
    }
    fd = (int)gr_syscall4(SYS_openat, AT_FDCWD, report_path,
                          O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        gr_print("greenrun: GREENRUN_REPORT=%s: cannot create the file (errno %d); it must "
                 "not exist yet\n",
                 report_path, -fd);
        return;
    }
    j = gr_mem_alloc(sizeof(*j));
    if (j == NULL) {
        gr_sys_close(fd);
        return;
    }
    j->fd = fd;
    format_s(up, sizeof(up), gr_nanotime());
    gr_outbuf_put(j, "{\"greenrun\": \"%s\", \"pid\": %d, \"uptime_s\": %s, \"sites\": [",
                  GR_VERSION, (int)gr_sys_getpid(), up);
    for (uint32_t i = 0; i < n; i++)
        json_site(j, &v[i], i == 0);
    gr_outbuf_put(j, "\n]}\n");
    gr_outbuf_flush(j);
    if (j->err != 0)
        gr_print("greenrun: GREENRUN_REPORT=%s: the write failed\n", report_path);
    gr_sys_close(fd);
    gr_mem_free(j, sizeof(*j));
}

/* Copy every site, calls still open folded in, into v (room for cap); returns the count. */
static uint32_t
snapshot(struct shown *v, uint32_t cap, int64_t now)
{
    uint32_t n = 0;

    gr_lock(&lock);
    for (int b = 0; b < NBUCKETS; b++)
        for (struct site *sp = buckets[b]; sp != NULL && n < cap; sp = sp->next) {
            if (sp->count == 0)
                continue; /* its only call moved to its backtrace's site */
            v[n].s = *sp;
            v[n].s.next = sp; /* the original, to match open calls below */
            v[n].nopen = 0;
            n++;
        }
    for (size_t pid = 0; pid < MAX_P; pid++) {
        if (!calls[pid].active)
            continue;
        for (uint32_t i = 0; i < n; i++)
            if (v[i].s.next == calls[pid].site) {
                add_time(&v[i].s, calls[pid].since, now);
                v[i].nopen++;
            }
    }
    gr_unlock(&lock);
    return n;
}

/* The sites, longest total first, into *v (gr_mem_alloc'd, *bytes long); the count. */
static uint32_t
sorted_sites(struct shown **v, size_t *bytes)
{
    uint32_t cap, n;

    gr_lock(&lock);
    cap = nsites;
    gr_unlock(&lock);
    *bytes = sizeof(**v) * (cap > 0 ? cap : 1);
    *v = cap > 0 ? gr_mem_alloc(*bytes) : NULL;
    n = *v != NULL ? snapshot(*v, cap, gr_nanotime()) : 0;
    /* Insertion sort, longest total first. */
    for (uint32_t i = 1; i < n; i++) {
        struct shown t = (*v)[i];
        uint32_t k = i;

        for (; k > 0 && (*v)[k - 1].s.total < t.s.total; k--)
            (*v)[k] = (*v)[k - 1];
        (*v)[k] = t;
    }
    return n;
}

static void
write_text(int fd, const struct shown *v, uint32_t n)
{
    if (n == 0)
        gr_fdprint(fd, "greenrun: blocking: no call held an M\n");
    for (uint32_t i = 0; i < n; i++)
        print_site(fd, &v[i]);
}

void
gr_blockrec_report(bool print)
{
    struct shown *v;
    size_t bytes;
    uint32_t n = sorted_sites(&v, &bytes);

    if (print)
        write_text(2, v, n);
    write_json(v, n);
    if (v != NULL)
        gr_mem_free(v, bytes);
}

void
gr_blockrec_write(int fd)
{
    struct shown *v;
    size_t bytes;
    uint32_t n = sorted_sites(&v, &bytes);

    write_text(fd, v, n);
    if (v != NULL)
        gr_mem_free(v, bytes);
}

/* ---- Live lines (GREENRUN_DEBUG=blocking=live): the reporter thread. */

bool
gr_blockrec_read(int fd, long *nr, uintptr_t *sp, uintptr_t *pc)
{
    char buf[256];
    ssize_t n;

    if (fd < 0)
        return false;
    n = gr_sys_pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return gr_blockrec_parse(buf, nr, sp, pc);
}

/* Does the M still sleep where c found it? (Its stack may have changed under the unwind.) */
static bool
still_asleep(const struct gr_blockrec_call *c)
{
    long nr;
    uintptr_t sp, pc;

    return gr_blockrec_read(c->sysfd, &nr, &sp, &pc) && nr == c->nr && sp == c->sp && pc == c->pc;
}

/*
 * Unwind the open calls sysmon handed over, while their Ms sleep, and move each to the site of
 * its backtrace. The thread sleeps in the kernel, so its stack does not move; a call that ended
 * meanwhile is found by the check after the walk, and its frames are dropped.
 */
static void
unwind_calls(void)
{
    for (size_t pid = 0; pid < MAX_P; pid++) {
        struct gr_frame f[GR_BLOCKREC_FRAMES];
        uintptr_t pcs[GR_BLOCKREC_FRAMES];
        struct gr_blockrec_call c;
        struct site *old, *sp;
        uint32_t gen;
        bool want;
        int n;

        gr_lock(&lock);
        want = (unwind_wanted[pid / 64] >> (pid % 64)) & 1;
        unwind_wanted[pid / 64] &= ~(1ULL << (pid % 64));
        want = want && calls[pid].active;
        c = calls[pid].c;
        gen = calls[pid].gen;
        gr_unlock(&lock);
        if (!want)
            continue;
        n = gr_unwind(&(struct gr_regs){ .pc = c.pc, .sp = c.sp }, c.lo, c.hi, f,
                      GR_BLOCKREC_FRAMES, NULL);
        if (n <= 0 || f[0].pc != c.pc || !still_asleep(&c))
            continue;
        for (int i = 0; i < n; i++)
            pcs[i] = f[i].pc;
        struct gr_frame *sym = gr_mem_alloc(sizeof(*sym) * (size_t)n);
        sp = lock_site(c.nr, pcs, n);
        if (calls[pid].active && calls[pid].gen == gen && sp != NULL && sp != calls[pid].site) {
            old = calls[pid].site;
            old->count--;
            old->spares -= calls[pid].spares;
            sp->count++;
            sp->spares += calls[pid].spares;
            if (calls[pid].since < sp->first)
                sp->first = calls[pid].since;
            if (sp->sym == NULL && sym != NULL) {
                memcpy(sym, f, sizeof(*sym) * (size_t)n);
                sp->sym = sym;
                sym = NULL;
            }
            calls[pid].site = sp;
        }
        gr_unlock(&lock);
        if (sym != NULL)
            gr_mem_free(sym, sizeof(*sym) * (size_t)n);
    }
}

/* One live line, with the frames below it. */
static void
print_live(const struct live_line *l, uint64_t dropped)
{
    const struct site *sp = l->site;
    char dur[32], where[256], what[96], extra[64];
    int f = first_shown(sp);

    format_ns(dur, sizeof(dur), l->ns);
    describe_frame(where, sizeof(where), sp, f, sp->nr != GR_BLOCKREC_RUNNING);
    if (sp->nr == GR_BLOCKREC_HANDOFF)
        gr_snprint(what, sizeof(what), "handoff %s held its M %s", call_name(sp), dur);
    else if (sp->nr == GR_BLOCKREC_RUNNING)
        gr_snprint(what, sizeof(what), "not preemptible for %s so far", dur);
    else
        gr_snprint(what, sizeof(what), "syscall %ld (%s) has held its M %s", sp->nr, call_name(sp),
                   dur);
    extra[0] = '\0';
    if (dropped > 0)
        gr_snprint(extra, sizeof(extra), " (%lu lines dropped before this one)",
                   (unsigned long)dropped);
    gr_print("greenrun: blocking live: %s, pc %p%s%s\n", what, (void *)sp->frames[f], where, extra);
    for (int i = f + 1; i < sp->nframes; i++) {
        describe_frame(where, sizeof(where), sp, i, true);
        gr_print("greenrun: blocking live:     #%d %p%s\n", i - f, (void *)sp->frames[i], where);
    }
}

void *
gr_blockrec_reporter_main(void *arg)
{
    struct m *mp = arg;
    int64_t window = 0;
    int printed = 0;

    if (gr_m_init_self(mp) != 0)
        gr_throw("blocking reporter: cannot set the GS base");
    for (;;) {
        gr_note_sleep(&reporter_note, -1);
        gr_note_clear(&reporter_note);
        unwind_calls();
        for (;;) {
            struct live_line l;
            int64_t now = gr_nanotime();
            uint64_t dropped;
            bool have;

            gr_lock(&lock);
            have = live_head != live_tail;
            if (have)
                l = live[live_head++ % LIVE_RING];
            dropped = live_dropped;
            live_dropped = 0;
            gr_unlock(&lock);
            if (!have)
                break;
            if (now - window >= GR_NSEC_PER_SEC) {
                window = now;
                printed = 0;
            }
            if (printed++ >= LIVE_PER_S) {
                /* Over the rate: counted, and said on the next line printed. */
                gr_lock(&lock);
                live_dropped += dropped + 1;
                gr_unlock(&lock);
                continue;
            }
            print_live(&l, dropped);
        }
    }
    return NULL;
}
