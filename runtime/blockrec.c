/*
 * runtime/blockrec.c: the record of blocking calls the runtime never saw (see blockrec.h).
 *
 * sysmon is the only writer. It reports a call once it has seen the M asleep in it twice, at
 * least 1 ms apart, with the P's schedule unmoved (gr_blockrec_begin), and again when it sees
 * the P move or the M run (gr_blockrec_end). Durations therefore run from sysmon's first
 * sighting to the round that saw the end: short by the detection delay (2 ms of unmoved
 * schedule, plus up to one sysmon period), long by up to one period at the end.
 *
 * Invariants:
 *  - sites[0..nsites) are distinct (nr, pc) pairs; an entry, once added, stays at its index.
 *  - calls[pid].active means P pid's M is in a recorded call that began at calls[pid].since and
 *    whose count is already in sites[calls[pid].site] (or in the overflow when site < 0).
 * Lock: `lock`, a leaf: taken by sysmon for begin and end, and by the report to copy the table.
 * Nothing under it allocates, calls glibc or prints.
 */
#include "runtime/blockrec.h"

#include <dlfcn.h>
#include <limits.h>
#include <string.h>

#include "runtime/debug.h"
#include "runtime/lock.h"
#include "runtime/sched.h"
#include "runtime/sys.h"

#define MAX_SITES 64
#define MAX_P     GR_ARRAY_LEN(gr_sched.allp)

struct site {
    long nr;        /* system call number; -1: asleep outside a system call */
    uintptr_t pc;   /* user return address */
    uint64_t count; /* calls seen, open ones included */
    int64_t total;  /* ns of the calls that ended */
    int64_t max;    /* ns, the longest that ended */
};

struct open_call {
    bool active;
    int32_t site;  /* index in sites, or -1: counted in the overflow */
    int64_t since; /* first sighting, monotonic ns */
};

static struct gr_mutex lock = GR_MUTEX_INIT(GR_RANK_LEAF);
static struct site sites[MAX_SITES];  /* protected by lock */
static int32_t nsites;                /* protected by lock */
static struct site overflow;          /* protected by lock: calls at sites beyond the table */
static struct open_call calls[MAX_P]; /* protected by lock; indexed by P id */

/* ---- Parsing /proc/<tid>/syscall. */

static const char *
skip_spaces(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static int
hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One "0x..." or bare hex word; NULL when s does not start with one. */
static const char *
parse_hex(const char *s, uintptr_t *out)
{
    uintptr_t v = 0;
    const char *start;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    start = s;
    for (int d; (d = hex_digit(*s)) >= 0; s++)
        v = v * 16 + (uintptr_t)d;
    if (s == start)
        return NULL;
    *out = v;
    return s;
}

bool
gr_blockrec_parse(const char *text, long *nr, uintptr_t *pc)
{
    const char *s = skip_spaces(text);
    bool neg = false;
    long n = 0;
    int words = 0;
    uintptr_t last = 0;

    if (*s == '-') {
        neg = true;
        s++;
    }
    if (*s < '0' || *s > '9')
        return false; /* "running", or nothing */
    for (; *s >= '0' && *s <= '9'; s++) {
        if (n > (LONG_MAX - 9) / 10)
            return false; /* no system call number is that long */
        n = n * 10 + (*s - '0');
    }
    if (neg)
        n = -n;
    for (;;) {
        uintptr_t v;

        s = skip_spaces(s);
        if (*s == '\0' || *s == '\n')
            break;
        s = parse_hex(s, &v);
        if (s == NULL)
            return false;
        last = v;
        words++;
    }
    /* The kernel writes six arguments, sp and pc for a call; only sp and pc outside one. */
    if (!(n >= 0 && words == 8) && !(n == -1 && words == 2))
        return false;
    *nr = n;
    *pc = last;
    return true;
}

/* ---- Recording (sysmon). */

/* The index of (nr, pc), added if new; -1 when the table is full. Requires: lock held. */
static int32_t
site_find(long nr, uintptr_t pc)
{
    GR_ASSERT_HELD(&lock);
    for (int32_t i = 0; i < nsites; i++)
        if (sites[i].nr == nr && sites[i].pc == pc)
            return i;
    if (nsites == MAX_SITES)
        return -1;
    sites[nsites] = (struct site){ .nr = nr, .pc = pc };
    return nsites++;
}

static struct site *
site_at(int32_t i)
{
    return i < 0 ? &overflow : &sites[i];
}

void
gr_blockrec_begin(int32_t pid, long nr, uintptr_t pc, int64_t since)
{
    if (pid < 0 || (size_t)pid >= MAX_P)
        return;
    gr_lock(&lock);
    if (!calls[pid].active) {
        int32_t i = site_find(nr, pc);

        site_at(i)->count++;
        calls[pid] = (struct open_call){ .active = true, .site = i, .since = since };
    }
    gr_unlock(&lock);
}

static void
add_time(struct site *sp, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    sp->total += ns;
    if (ns > sp->max)
        sp->max = ns;
}

void
gr_blockrec_end(int32_t pid, int64_t now)
{
    if (pid < 0 || (size_t)pid >= MAX_P)
        return;
    gr_lock(&lock);
    if (calls[pid].active) {
        add_time(site_at(calls[pid].site), now - calls[pid].since);
        calls[pid].active = false;
    }
    gr_unlock(&lock);
}

void
gr_blockrec_fork_child(void)
{
    gr_lock_reset(&lock);
    memset(sites, 0, sizeof(sites));
    memset(&overflow, 0, sizeof(overflow));
    memset(calls, 0, sizeof(calls));
    nsites = 0;
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

/* "(libc.so.6 read+0x1e)", "(prog+0x1234)" or "" into buf. pc is a return address, or (ret
 * false) an instruction of its own. */
static void
describe_pc(char *buf, size_t size, uintptr_t pc, bool ret)
{
    Dl_info info;
    const char *file;

    buf[0] = '\0';
    /* A return address: look up the byte before it, which belongs to the call. */
    if (pc == 0 || dladdr((void *)(pc - ret), &info) == 0 || info.dli_fname == NULL)
        return;
    file = strrchr(info.dli_fname, '/');
    file = file != NULL ? file + 1 : info.dli_fname;
    if (info.dli_sname != NULL && info.dli_saddr != NULL)
        gr_snprint(buf, size, " (%s %s+0x%lx)", file, info.dli_sname,
                   (unsigned long)(pc - (uintptr_t)info.dli_saddr));
    else
        gr_snprint(buf, size, " (%s+0x%lx)", file, (unsigned long)(pc - (uintptr_t)info.dli_fbase));
}

static void
print_site(const struct site *sp, uint32_t nopen)
{
    char total[32], max[32], where[256], still[32];
    const char *name = sp->nr >= 0 ? gr_sys_name(sp->nr) : "not in a system call";

    format_ns(total, sizeof(total), sp->total);
    format_ns(max, sizeof(max), sp->max);
    describe_pc(where, sizeof(where), sp->pc, sp->nr != GR_BLOCKREC_RUNNING);
    still[0] = '\0';
    if (sp->nr == GR_BLOCKREC_RUNNING) {
        if (nopen > 0)
            gr_snprint(still, sizeof(still), ", %u still running", nopen);
        gr_print("greenrun: blocking: not preemptible count %lu total %s max %s pc %p%s%s\n",
                 (unsigned long)sp->count, total, max, (void *)sp->pc, where, still);
        return;
    }
    if (nopen > 0)
        gr_snprint(still, sizeof(still), ", %u still blocked", nopen);
    gr_print("greenrun: blocking: syscall %ld (%s) count %lu total %s max %s pc %p%s%s\n", sp->nr,
             name != NULL ? name : "?", (unsigned long)sp->count, total, max, (void *)sp->pc, where,
             still);
}

void
gr_blockrec_report(void)
{
    struct site copy[MAX_SITES], more;
    uint32_t nopen[MAX_SITES] = { 0 }, more_open = 0;
    int32_t n;
    int64_t now = gr_nanotime();

    gr_lock(&lock);
    n = nsites;
    memcpy(copy, sites, sizeof(copy[0]) * (size_t)n);
    more = overflow;
    for (size_t pid = 0; pid < MAX_P; pid++) {
        if (!calls[pid].active)
            continue;
        if (calls[pid].site < 0) {
            add_time(&more, now - calls[pid].since);
            more_open++;
        } else {
            add_time(&copy[calls[pid].site], now - calls[pid].since);
            nopen[calls[pid].site]++;
        }
    }
    gr_unlock(&lock);

    /* Insertion sort, longest total first: at most MAX_SITES entries. */
    for (int32_t i = 1; i < n; i++) {
        struct site s = copy[i];
        uint32_t o = nopen[i];
        int32_t j = i;

        for (; j > 0 && copy[j - 1].total < s.total; j--) {
            copy[j] = copy[j - 1];
            nopen[j] = nopen[j - 1];
        }
        copy[j] = s;
        nopen[j] = o;
    }
    if (n == 0 && more.count == 0)
        gr_print("greenrun: blocking: no call held an M unseen\n");
    for (int32_t i = 0; i < n; i++)
        print_site(&copy[i], nopen[i]);
    if (more.count > 0) {
        char total[32];

        format_ns(total, sizeof(total), more.total);
        gr_print("greenrun: blocking: %lu more calls at sites beyond the first %d, total %s%s\n",
                 (unsigned long)more.count, MAX_SITES, total,
                 more_open > 0 ? ", some still blocked" : "");
    }
}
