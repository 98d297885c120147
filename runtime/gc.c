/*
 * runtime/gc.c: GREENRUN_GC=leak: allocation stacks, and at exit a mark from conservative roots
 * through the heap, precisely, with a report of the objects nothing reaches (LeakSanitizer's
 * report, from greenrun's own knowledge of every G).
 *
 * Recording. Every allocation in leak mode ends in gr_gc_record (malloc.c), which unwinds the
 * stack, drops the frames inside this library (and glibc's start code below main), and
 * interns the first GC_DEPTH frames in the site table. The unwind walks frame pointers when
 * every frame keeps one, which libunwind's tables tell once per return address (fp_frame: a
 * program built with -fno-omit-frame-pointer), else it is libunwind's unw_backtrace (DWARF
 * tables: complete for code built without frame pointers); both give the same frames. In
 * the table, identical stacks share one entry, whose id goes in the object's slot of its
 * span's side table (heap.h's gc_slots; a large object's span holds it itself), with the size
 * asked for. libunwind is loaded at boot by unwind.c (the one loader, also the thread dump's),
 * so GREENRUN_GC=off never maps it.
 * While a G records, it counts as in a signal handler (g->inhandler): the preemption signal
 * leaves it alone and no hook parks it, since the unwinder runs inside malloc, maybe under
 * libc's or ld.so's locks. An allocation nested in the recording (g->gc_recording) is
 * libunwind's own (never reported: it is the leak mode's memory, not the program's) or a
 * signal handler's that interrupted it (site 0, no stack).
 *
 * The exit check (gr_gc_exit, from the library's destructor: after the program's atexit
 * handlers and every other library's destructor). In order:
 *  1. With the world running: the writable PT_LOAD segments of every loaded object but this
 *     one (dl_iterate_phdr takes ld.so's lock, so not later), ld.so's own early memory (the
 *     mappings that hold link maps it made before malloc was ready), and the pointers only
 *     the kernel holds for the program: POSIX timers' sigevent values (/proc/self/timers)
 *     and the data of every descriptor registered in an epoll set (/proc/self/fdinfo).
 *  2. Stop: the allg lock (no G starts or ends), then every allocator lock with remote frees
 *     held back (gr_malloc_world_stop). In leak mode every allocation and every free passes
 *     through one of those, so no other M changes which objects exist. Other Ms keep running
 *     their Gs' code: their registers are not seen (stated in docs/design.md).
 *  3. Snapshot: each small span's objects in use (gr_malloc_span_live), large ones by state.
 *  4. Mark from the roots, conservatively: the segments and kernel values of step 1; for
 *     each G its struct g (start argument, result, DTV), its static TLS block and descriptor
 *     (pthread keys' values, glibc's pointers to dynamic TLS), and its stack: a parked or
 *     runnable G's from its saved stack pointer (the switch pushed its callee-saved
 *     registers there) to the top; a G in a system call from a page below its stack
 *     pointer at entersyscall; a G running on another M (or wired, waiting in the kernel)
 *     whole; the calling G's from here, its registers spilled. Each M's struct and TLS
 *     blocks (the runtime's threads' DTVs, which glibc allocated). Then the heap, precisely:
 *     every word of a reached object (its asked-for size) that points into an object in
 *     use, interior included, reaches that object.
 *  5. Tally unreached objects by site; restart the world; symbolize (unw_get_proc_name, which
 *     reads symbol tables, static functions included; dladdr for the object) and print, largest
 *     first; the JSON goes to GREENRUN_GC_REPORT (O_EXCL, 0600, never under AT_SECURE).
 * Nothing is ever freed. Memory for the check is mapped and never returned (the process is
 * ending).
 *
 * Locks: site_lock (leaf) guards the table's insertions; readers of an id's entry, and the
 * lookups of a record, need none (entries are written before their id is published in their
 * bucket and never change). The exit check takes
 * gr_sched.glock, then the allocator's locks (untracked, fork's order).
 */
#include "runtime/gc.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

#include "runtime/atomic.h"
#include "runtime/base.h"
#include "runtime/boot.h"
#include "runtime/ctx.h"
#include "runtime/debug.h"
#include "runtime/g.h"
#include "runtime/heap.h"
#include "runtime/libc.h"
#include "runtime/lock.h"
#include "runtime/malloc.h"
#include "runtime/proc.h"
#include "runtime/sched.h"
#include "runtime/sys.h"
#include "runtime/sysmon.h"
#include "runtime/tls.h"
#include "runtime/unwind.h"

#define GC_DEPTH        24              /* frames kept per stack */
#define GC_RAW          (GC_DEPTH + 16) /* frames unwound: the runtime's come first */
#define GC_MAX_SITES    ((size_t)1 << 20)
#define GC_MAX_PCS      ((size_t)1 << 24)
#define GC_BUCKETS      ((size_t)1 << 16)
#define GC_MAX_SEGS     4096
#define GC_MAX_KROOTS   65536
#define SYSCALL_MARGIN  4096       /* bytes scanned below a G's stack pointer at entersyscall */
#define GC_SITE_RUNTIME UINT32_MAX /* the unwinder's own objects: never reported */
#define MAX_DTV_BYTES   ((uintptr_t)1 << 20) /* a DTV longer than this is not one */

bool gr_gc_leak;

static const char *report_path;       /* immutable after the constructor */
static int report_signal;             /* GREENRUN_GC_REPORT_SIGNAL, or 0; immutable after it */
static struct gr_atomic_u32 checking; /* atomic: 1 while a check runs (the exit's keeps
                                         it); claimed with check_claim */
static struct gr_atomic_u32 report_started; /* atomic: the reporter thread was started */
static GR_ATOMIC_PTR(void) reporter_tp;     /* atomic: its thread pointer once it runs */
static bool collect_asked;                  /* GREENRUN_GC=collect: said in the report */

/* Set (release) once libunwind is loaded (unwind.c) and set up, at boot: records unwind. */
static struct gr_atomic_u32 unw_ready;

/* This library's mapping: frames in it are the allocator's, not the program's. */
static uintptr_t self_lo, self_hi, self_base;

/* ---- The site table. */

struct site {
    uint64_t hash;
    uint32_t next;  /* the bucket's chain, 0 ends it */
    uint32_t depth; /* frames at pcs[first..first+depth) */
    uint32_t first;
};

static struct gr_mutex site_lock = GR_MUTEX_INIT(GR_RANK_LEAF);
static struct site *sites;            /* GC_MAX_SITES entries reserved; entry 0 is "unknown" */
static uintptr_t *site_pcs;           /* GC_MAX_PCS reserved */
static struct gr_atomic_u32 *buckets; /* GC_BUCKETS chain heads; atomic: published under
                                        site_lock (store-release), read without it */

/* The counters greenrun_gc_stats reads: written after each check, under stats_lock (leaf). */
static struct gr_mutex stats_lock = GR_MUTEX_INIT(GR_RANK_LEAF);
static struct gr_gc_stats stats; /* protected by stats_lock */

static struct gr_atomic_u32 nsites; /* atomic: written under site_lock; entries below it are
                                       complete (store-release after the entry) */
static uint32_t npcs;               /* protected by site_lock */

static void *
map_noreserve(size_t bytes)
{
    void *p = gr_sys_mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    return (uintptr_t)p >= (uintptr_t)-4095 ? NULL : p;
}

static uint64_t
hash_pcs(void *const *pcs, int n)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)(uintptr_t)pcs[i];
        h *= 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h;
}

/* The entry for stack pcs[0..n) of hash h in the chain from id, or 0. */
static uint32_t
find_site(uint64_t h, void *const *pcs, int n, uint32_t id)
{
    for (; id != 0; id = sites[id].next) {
        const struct site *st = &sites[id];
        if (st->hash == h && st->depth == (uint32_t)n &&
            memcmp(&site_pcs[st->first], pcs, (size_t)n * sizeof(uintptr_t)) == 0)
            break;
    }
    return id;
}

/* The id of the stack pcs[0..n), interned; 0 when the table is full. A stack seen before (the
 * common case: a program allocates from few places) is found without the lock. */
static uint32_t
intern(void *const *pcs, int n)
{
    uint64_t h = hash_pcs(pcs, n);
    struct gr_atomic_u32 *head = &buckets[h & (GC_BUCKETS - 1)];
    uint32_t id;

    /* Pairs with the store-release below: the entry and its chain are complete. */
    id = find_site(h, pcs, n, gr_load_acquire(head));
    if (id != 0)
        return id;
    gr_lock(&site_lock);
    id = find_site(h, pcs, n, gr_load_relaxed(head));
    if (id == 0) {
        id = gr_load_relaxed(&nsites);
        if (id < GC_MAX_SITES && npcs + (uint32_t)n <= GC_MAX_PCS) {
            struct site *st = &sites[id];
            st->hash = h;
            st->depth = (uint32_t)n;
            st->first = npcs;
            memcpy(&site_pcs[npcs], pcs, (size_t)n * sizeof(uintptr_t));
            npcs += (uint32_t)n;
            st->next = gr_load_relaxed(head);
            /* Pair with the load-acquires of the lookup and of the report. */
            gr_store_release(head, id);
            gr_store_release(&nsites, id + 1);
        } else {
            id = 0;
        }
    }
    gr_unlock(&site_lock);
    return id;
}

static inline bool
in_self(const void *pc)
{
    return (uintptr_t)pc >= self_lo && (uintptr_t)pc < self_hi;
}

/* raw[0..n) without the runtime's own frames at its start, and without glibc's start code
 * below the main G's (from gr_main_caller out: the same for every stack of it), interned. */
static uint32_t
intern_program_frames(void **raw, int n)
{
    int k = 0, end;

    while (k < n && in_self(raw[k]))
        k++;
    for (end = k; end < n && end - k < GC_DEPTH; end++)
        if ((uintptr_t)raw[end] == gr_main_caller)
            break;
    if (end == k)
        return 0;
    return intern(raw + k, end - k);
}

/*
 * Which functions keep frame pointers, by return address (gr_unwind_fp_frame's answers): an
 * open-addressed table of pc << 2 | class (1 yes, 2 no), filled as records meet new return
 * addresses and never emptied. Lock-free: a slot goes from 0 to its value once (CAS).
 */
#define GC_FPCLASS ((size_t)1 << 16)
#define FP_PROBES  16
#define FP_RETRY   64 /* records between two tries of a walk that failed (stack_site) */
static struct gr_atomic_u64 *fpclass; /* GC_FPCLASS slots, mapped at boot */

/* Does the function holding return address pc keep a frame-pointer frame there? false also
 * when it cannot be known (the table is full around pc). */
static bool
fp_frame(uintptr_t pc)
{
    size_t i = (size_t)((pc * 0x9e3779b97f4a7c15ull) >> 48) & (GC_FPCLASS - 1);

    for (int probe = 0; probe < FP_PROBES; probe++, i = (i + 1) & (GC_FPCLASS - 1)) {
        uint64_t v = gr_load_relaxed(&fpclass[i]);
        if (v == 0) {
            uint64_t mine = (uint64_t)pc << 2 | (gr_unwind_fp_frame(pc) == 1 ? 1 : 2);
            if (gr_cas(&fpclass[i], &v, mine))
                return (mine & 3) == 1;
            /* v is the winner's entry now: it may be pc's */
        }
        if (v >> 2 == pc)
            return (v & 3) == 1;
    }
    return false;
}

/*
 * The calling G's stack by frame pointers, into raw[0..GC_RAW), when that gives what libunwind
 * would: every function on the way keeps a frame pointer at its return address (the
 * runtime's own too: hooks/malloc.c is built without them), to the bottom of a G's stack
 * (gr_ctx_trampoline), to glibc's start code below main, or GC_RAW frames. The count, or -1
 * when some frame keeps no frame pointer or the chain leaves the stack: libunwind must walk.
 */
static GR_NOINLINE int
fp_walk(const struct g *gp, void **raw)
{
    /* Every frame lies between this one and the top of the G's stack, mapped memory. */
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0), lo = fp, hi = (uintptr_t)gp->stack_hi;
    uintptr_t base = (uintptr_t)gr_ctx_trampoline;
    int n = 0;

    while (n < GC_RAW) {
        if ((fp & 7) != 0 || fp < lo || fp + 16 > hi)
            return -1;
        uintptr_t next = ((const uintptr_t *)fp)[0], ret = ((const uintptr_t *)fp)[1];
        raw[n++] = (void *)ret;
        if (ret == gr_main_caller || (ret > base && ret <= base + GR_CTX_TRAMPOLINE_SIZE))
            return n;
        if (!fp_frame(ret) || next <= fp)
            return -1;
        fp = next;
    }
    return n;
}

/*
 * The program's threads inside dl_iterate_phdr, and the records inside libunwind (which
 * calls it too): never both (gc.h). Each side marks itself, then looks at the other (sequentially
 * consistent, so at least one of two racing sides sees the other): a record that sees a
 * program thread walks frame pointers instead; a program thread that sees records waits for
 * them to finish, which they do without waiting for anyone. A record marks its own M
 * (m->gc_unwinding), not a shared counter: records on two Ps then touch no common line.
 */
static struct gr_atomic_u32 program_iterating;

/*
 * The allocation stack by frame pointers, within gp's stack: complete where the code keeps
 * them, cut short (or wrong above a frame without one) where it does not. Each step must go
 * up the stack, so it ends.
 */
static GR_NOINLINE uint32_t
fp_site(const struct g *gp)
{
    void *raw[GC_RAW];
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0), hi = (uintptr_t)gp->stack_hi;
    int n = 0;

    while (n < GC_RAW && (fp & 7) == 0 && fp + 16 <= hi) {
        uintptr_t next = ((const uintptr_t *)fp)[0], ret = ((const uintptr_t *)fp)[1];
        if (ret == 0)
            break;
        raw[n++] = (void *)ret;
        if (next <= fp)
            break;
        fp = next;
    }
    return intern_program_frames(raw, n);
}

/* The calling G's allocation stack, interned. Requires: unw loaded. Inlined: one frame
 * fewer for libunwind to walk on every record. */
static __attribute__((always_inline)) inline uint32_t
stack_site(const struct g *gp)
{
    void *raw[GC_RAW];
    struct m *mp = gr_getm();
    uint32_t site;

    int n;

    gr_store(&mp->gc_unwinding, 1);
    if (gr_load(&program_iterating) != 0) {
        site = fp_site(gp);
    } else if (mp->gc_fp_skip == 0 && (n = fp_walk(gp, raw)) >= 0) {
        site = intern_program_frames(raw, n);
    } else {
        /* A failed walk is tried again only every FP_RETRY records on this M: code without
         * frame pointers then costs libunwind's walk alone. Either walk gives the same frames,
         * so which one ran never shows. */
        mp->gc_fp_skip = mp->gc_fp_skip == 0 ? FP_RETRY - 1 : mp->gc_fp_skip - 1;
        site = intern_program_frames(raw, gr_unwind_backtrace(raw, GC_RAW));
    }
    gr_store_release(&mp->gc_unwinding, 0);
    return site;
}

int
gr_gc_iterate_phdr(int (*callback)(struct dl_phdr_info *info, size_t size, void *data), void *data)
{
    int r;

    if (gr_gc_unwinding()) /* libunwind's own */
        return gr_real.dl_iterate_phdr(callback, data);
    gr_xadd(&program_iterating, 1);
    for (struct m *mp = gr_load_acquire(&gr_sched.allm); mp != NULL; mp = mp->alllink)
        while (gr_load(&mp->gc_unwinding) != 0)
            gr_sys_sched_yield();
    r = gr_real.dl_iterate_phdr(callback, data);
    gr_xadd(&program_iterating, -1);
    return r;
}

/* ---- Configuration and boot. */

void
gr_gc_configure(int mode, const char *report, int signal)
{
    if (mode == 0)
        return;
    if (mode == 2) {
        collect_asked = true;
        gr_print("greenrun: GREENRUN_GC=collect is not built yet; running as GREENRUN_GC=leak "
                 "(reports leaks at exit, frees nothing)\n");
    }
    report_path = report;
    report_signal = signal;
    gr_gc_leak = true;
}

static int
find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    uintptr_t here = (uintptr_t)arg, lo = UINTPTR_MAX, hi = 0;
    bool mine = false;

    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr, b = a + ph->p_memsz;
        if (a < lo)
            lo = a;
        if (b > hi)
            hi = b;
        if (here >= a && here < b)
            mine = true;
    }
    if (!mine)
        return 0;
    self_lo = lo;
    self_hi = hi;
    self_base = info->dlpi_addr;
    return 1;
}

/* GREENRUN_GC_REPORT_SIGNAL: take the signal while the program leaves it at its default (as
 * the thread dump takes SIGQUIT); a handler of the program's replaces it. */
static void
take_report_signal(void)
{
    struct sigaction cur, mine;

    if (report_signal != 0 && gr_real.sigaction(report_signal, NULL, &cur) == 0 &&
        gr_gc_signal_takes(report_signal, &cur, &mine))
        gr_real.sigaction(report_signal, &mine, NULL);
}

void
gr_gc_boot(void)
{
    struct g *gp;

    if (!gr_gc_leak)
        return;
    take_report_signal();
    gr_real.dl_iterate_phdr(find_self, (void *)(uintptr_t)&gr_gc_boot);
    sites = map_noreserve(GC_MAX_SITES * sizeof(*sites));
    site_pcs = map_noreserve(GC_MAX_PCS * sizeof(*site_pcs));
    buckets = map_noreserve(GC_BUCKETS * sizeof(*buckets));
    fpclass = map_noreserve(GC_FPCLASS * sizeof(*fpclass));
    if (sites == NULL || site_pcs == NULL || buckets == NULL || fpclass == NULL) {
        gr_print("greenrun: GREENRUN_GC=leak: no memory for the site table; allocation stacks "
                 "are not recorded\n");
        return;
    }
    gr_store_relaxed(&nsites, 1);
    if (!gr_unwind_available()) {
        gr_print("greenrun: GREENRUN_GC=leak: cannot load libunwind.so.8 (Debian: libunwind8) "
                 "with the functions it needs; leaks are reported without allocation stacks\n");
        return;
    }
    /* libunwind sets itself up at its first use, opening a pipe: here, on the main G, as
     * the unwinder (the pipe goes to the runtime's range, hooks/fd.c). */
    gp = gr_current();
    if (gp != NULL) {
        void *pc;
        gp->inhandler++;
        gp->gc_recording = gp->inhandler;
        gr_unwind_backtrace(&pc, 1);
        gp->gc_recording = 0;
        gp->inhandler--;
    }
    /* Pairs with the load-acquire in gr_gc_record. */
    gr_store_release(&unw_ready, 1);
}

/* ---- Recording. */

/* The slot of small object p in span s, making the side table when it has none yet (or one
 * too small, from an earlier life of the span). NULL when no memory can be had. */
static struct gr_gc_slot *
slot_of(struct gr_span *s, uintptr_t p)
{
    uint32_t idx = (uint32_t)(((uint64_t)(p - s->base) * s->divmul) >> 32);
    uint32_t need = (uint32_t)((s->limit - s->base) / s->size);
    struct gr_gc_slots *t = gr_load_acquire(&s->gc_slots), *fresh;

    if (gr_likely(t != NULL && t->cap >= need))
        return &t->slot[idx];
    fresh = map_noreserve(sizeof(*fresh) + (size_t)need * sizeof(struct gr_gc_slot));
    if (fresh == NULL)
        return NULL;
    fresh->cap = need;
    /* Pairs with the load-acquire above. A loser's table is unmapped: nobody saw it. Another
     * recorder may still write into a replaced table; it is never unmapped, only forgotten. */
    if (!gr_cas_release(&s->gc_slots, &t, fresh)) {
        gr_sys_munmap(fresh, sizeof(*fresh) + (size_t)need * sizeof(struct gr_gc_slot));
        if (t == NULL || t->cap < need)
            return NULL;
    } else {
        t = fresh;
    }
    return &t->slot[idx];
}

void
gr_gc_record(void *p, size_t n)
{
    struct gr_span *s;
    struct g *gp;
    uint32_t site = 0;

    if (p == NULL)
        return;
    gp = gr_current();
    if (gp != NULL && gp->gc_recording != 0) {
        /* Nested in a record: libunwind's own memory (its per-thread cache and TLS), which is
         * the leak mode's and never reported, or a signal handler's that interrupted the
         * record (its handler depth is deeper), which gets no stack. */
        site = gp->inhandler == gp->gc_recording ? GC_SITE_RUNTIME : 0;
    } else if (gp != NULL && gr_load_acquire(&unw_ready) != 0) {
        /* Pairs with the store-release at the end of gr_gc_boot. In handler mode: no
         * preemption and no park while libunwind runs (above). */
        gp->inhandler++;
        gp->gc_recording = gp->inhandler;
        gr_signal_fence();
        site = stack_site(gp);
        gr_signal_fence();
        gp->gc_recording = 0;
        gp->inhandler--;
    }
    s = gr_heap_span_of((uintptr_t)p);
    if (s == NULL)
        return;
    if (gr_load_relaxed(&s->state) == SPAN_SMALL) {
        struct gr_gc_slot *sl = slot_of(s, (uintptr_t)p);
        if (sl != NULL) {
            sl->site = site;
            sl->size = (uint32_t)n;
        }
    } else {
        s->gc_site = site;
        s->gc_size = n;
    }
}

void
gr_gc_set_noscan(void *p)
{
    struct gr_span *s;

    if (!gr_gc_leak || p == NULL || (s = gr_heap_span_of((uintptr_t)p)) == NULL)
        return;
    if (gr_load_relaxed(&s->state) == SPAN_SMALL) {
        struct gr_gc_slot *sl = slot_of(s, (uintptr_t)p);
        if (sl != NULL)
            sl->size |= GR_GC_NOSCAN_SMALL;
    } else {
        s->gc_size |= GR_GC_NOSCAN_LARGE;
    }
}

bool
gr_gc_unwinding(void)
{
    struct g *gp = gr_current();

    return gp != NULL && gp->gc_recording != 0;
}

/* ---- fork: a child must not inherit a held site_lock. */

void
gr_gc_fork_prepare(void)
{
    gr_lock_untracked(&site_lock);
}

void
gr_gc_fork_parent(void)
{
    gr_unlock_untracked(&site_lock);
}

void
gr_gc_fork_child(void)
{
    gr_lock_reset(&site_lock);
    gr_lock_reset(&stats_lock);
    /* A check under way in the parent, and its reporter, have no thread here. */
    gr_store(&report_started, 0);
    gr_store(&reporter_tp, NULL);
    gr_store(&checking, 0);
}

/* ---- The exit check: memory and roots gathered before the stop. */

/* Memory for a check: carved from mappings, each chunk led by its size and the chunk mapped
 * before it; an on-demand check returns them (arena_release), the one at exit keeps them. Used
 * only by the thread that claimed the check. */
struct chunk {
    struct chunk *prev;
    size_t size;
};

static char *arena_cur, *arena_end;
static struct chunk *arena_last;

static void *
arena_alloc(size_t bytes)
{
    bytes = gr_round_up(bytes, 16);
    if ((size_t)(arena_end - arena_cur) < bytes) {
        size_t want = bytes + sizeof(struct chunk);
        size_t size = want > ((size_t)4 << 20) ? gr_round_up(want, 4096) : (size_t)4 << 20;
        struct chunk *c = map_noreserve(size);
        if (c == NULL)
            return NULL;
        c->prev = arena_last;
        c->size = size;
        arena_last = c;
        arena_cur = (char *)(c + 1);
        arena_end = (char *)c + size;
    }
    void *p = arena_cur;
    arena_cur += bytes;
    return p;
}

static void
arena_release(void)
{
    while (arena_last != NULL) {
        struct chunk *c = arena_last;
        arena_last = c->prev;
        gr_sys_munmap(c, c->size);
    }
    arena_cur = arena_end = NULL;
}

int
gr_gc_mode(void)
{
    return !gr_gc_leak ? 0 : collect_asked ? 2 : 1;
}

void
gr_gc_stats(struct gr_gc_stats *st)
{
    gr_lock(&stats_lock);
    *st = stats;
    st->sites = gr_gc_leak && sites != NULL ? gr_load_acquire(&nsites) - 1 : 0;
    gr_unlock(&stats_lock);
}

/* Claim the check, waiting at most ms milliseconds for one under way. */
static bool
check_claim(int ms)
{
    for (int i = 0;; i++) {
        uint32_t idle = 0;
        if (gr_cas(&checking, &idle, 1))
            return true;
        if (i >= ms)
            return false;
        struct timespec one = { 0, 1000000 };
        gr_syscall2(SYS_nanosleep, &one, NULL);
    }
}

struct range {
    uintptr_t lo, hi;
};

static struct range *segs; /* writable PT_LOAD segments of every object but this one */
static int nsegs;
static uintptr_t *kroots; /* pointers only the kernel holds */
static int nkroots;

static int
collect_segment(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    if (info->dlpi_addr == self_base)
        return 0;
    for (int i = 0; i < info->dlpi_phnum && nsegs < GC_MAX_SEGS; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W) == 0)
            continue;
        segs[nsegs].lo = info->dlpi_addr + ph->p_vaddr;
        segs[nsegs].hi = segs[nsegs].lo + ph->p_memsz;
        nsegs++;
    }
    return 0;
}

static void
kroot_add(uintptr_t v)
{
    if (v != 0 && nkroots < GC_MAX_KROOTS)
        kroots[nkroots++] = v;
}

/* Read a whole (small) /proc file into buf; returns its length (0 on failure). */
static size_t
read_file(const char *path, char *buf, size_t cap)
{
    int fd = gr_sys_open(path, O_RDONLY | O_CLOEXEC);
    size_t len = 0;
    ssize_t r;

    if (fd < 0)
        return 0;
    while (len < cap - 1 && (r = gr_sys_read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    gr_sys_close(fd);
    buf[len] = '\0';
    return len;
}

static uintptr_t
parse_hex(const char *s, const char **end)
{
    uintptr_t v = 0;

    for (;; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (*s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else
            break;
        v = v << 4 | d;
    }
    *end = s;
    return v;
}

/* Every value after key (as "key HEX") in text. */
static void
kroots_after(const char *text, const char *key)
{
    size_t klen = strlen(key);

    for (const char *p = strstr(text, key); p != NULL; p = strstr(p, key)) {
        const char *end;
        p += klen;
        while (*p == ' ' || *p == '\t')
            p++;
        kroot_add(parse_hex(p, &end));
        p = end;
    }
}

/*
 * ld.so's own memory: before libc's malloc (ours) is ready, ld.so allocates the link maps of
 * the program and of the libraries it starts with, their scope and search lists, from its
 * own small allocator, in anonymous mappings no segment covers. Later allocations hang from
 * them (a dlopen'ed library added to a search list). Each mapping that holds a link map
 * greenrun's heap does not own is scanned whole. /proc/self/maps is read line by line, as
 * it may be long.
 */
static void
collect_loader_memory(void)
{
    char chunk[4096], line[512];
    size_t len = 0;
    ssize_t r;
    int fd = gr_sys_open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    while ((r = gr_sys_read(fd, chunk, sizeof(chunk))) > 0) {
        for (ssize_t i = 0; i < r; i++) {
            if (chunk[i] != '\n') {
                if (len < sizeof(line) - 1)
                    line[len++] = chunk[i];
                continue;
            }
            line[len] = '\0';
            len = 0;
            const char *e;
            uintptr_t lo = parse_hex(line, &e), hi = parse_hex(e + 1, &e);
            if (e[1] != 'r' || e[2] != 'w' || nsegs >= GC_MAX_SEGS)
                continue;
            for (struct link_map *l = _r_debug.r_map; l != NULL; l = l->l_next) {
                if ((uintptr_t)l >= lo && (uintptr_t)l < hi && !gr_malloc_owns(l)) {
                    segs[nsegs].lo = lo;
                    segs[nsegs].hi = hi;
                    nsegs++;
                    break;
                }
            }
        }
    }
    gr_sys_close(fd);
}

/* POSIX timers' sigevent values ("signal: SIG/VALUE"), and epoll sets' data words ("tfd: N
 * events: E data: VALUE"), from /proc. */
static void
collect_kernel_roots(char *buf, size_t cap)
{
    char dents[4096], path[64];
    int dir;
    long n;

    if (read_file("/proc/self/timers", buf, cap) > 0) {
        for (const char *p = strstr(buf, "signal:"); p != NULL; p = strstr(p, "signal:")) {
            const char *slash = p + 7, *end;
            while (*slash != '/' && *slash != '\n' && *slash != '\0')
                slash++;
            p = slash;
            if (*slash != '/')
                continue;
            kroot_add(parse_hex(slash + 1, &end));
            p = end;
        }
    }
    dir = gr_sys_open("/proc/self/fdinfo", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return;
    while ((n = gr_syscall3(SYS_getdents64, dir, dents, sizeof(dents))) > 0) {
        for (long off = 0; off < n;) {
            const struct {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (const void *)(dents + off);
            off += d->reclen;
            if (d->name[0] < '0' || d->name[0] > '9')
                continue;
            gr_snprint(path, sizeof(path), "/proc/self/fdinfo/%s", d->name);
            if (read_file(path, buf, cap) > 0 && strstr(buf, "tfd:") != NULL)
                kroots_after(buf, "data:");
        }
    }
    gr_sys_close(dir);
}

/* ---- The exit check: the mark. */

static uintptr_t *markstack; /* objects reached, still to scan; each pushed once */
static size_t nmark, markcap;

static inline uint64_t *
live_bits(const struct gr_span *s)
{
    return s->gc_bits + 1;
}

static inline uint64_t *
mark_bits(const struct gr_span *s)
{
    return s->gc_bits + 1 + s->gc_bits[0];
}

/* w, if it points into an object in use, reaches it. */
static inline void
mark_word(uintptr_t w)
{
    struct gr_span *s = gr_heap_span_of(w);
    uintptr_t off;
    int state;

    if (s == NULL)
        return;
    off = w - s->base; /* below base (a stale entry): huge, out of every bound below */
    state = gr_load_relaxed(&s->state);
    if (state == SPAN_SMALL) {
        if (s->gc_bits == NULL || off >= s->limit - s->base)
            return;
        uint32_t idx = (uint32_t)(((uint64_t)off * s->divmul) >> 32);
        uint64_t bit = (uint64_t)1 << (idx & 63);
        uint64_t *mk = &mark_bits(s)[idx >> 6];
        if ((live_bits(s)[idx >> 6] & bit) == 0 || (*mk & bit) != 0)
            return;
        *mk |= bit;
        if (nmark < markcap)
            markstack[nmark++] = s->base + (uintptr_t)idx * s->size;
    } else if (state == SPAN_LARGE || state == SPAN_HUGE) {
        if (off >= s->npages * GR_HEAP_PAGE || s->gc_mark)
            return;
        s->gc_mark = true;
        if (nmark < markcap)
            markstack[nmark++] = s->base;
    }
}

static void
scan_range(uintptr_t lo, uintptr_t hi)
{
    for (uintptr_t a = gr_round_up(lo, sizeof(uintptr_t)); a + sizeof(uintptr_t) <= hi;
         a += sizeof(uintptr_t))
        mark_word(*(const uintptr_t *)a);
}

/* A range that may have unmapped pages (the initial thread's stack below what it used):
 * scanned page by page, skipping pages mincore says are not mapped. */
static void
scan_mapped(uintptr_t lo, uintptr_t hi)
{
    unsigned char vec;

    for (uintptr_t page = gr_round_down(lo, 4096); page < hi; page += 4096) {
        uintptr_t a = page > lo ? page : lo, b = page + 4096 < hi ? page + 4096 : hi;
        if (gr_syscall3(SYS_mincore, page, 4096, &vec) == 0)
            scan_range(a, b);
    }
}

/* G's stack from lo up. Only the initial thread's may have unmapped pages (its bounds come
 * from RLIMIT_STACK); every other G's stack is one mapping, or the program's memory. */
static void
scan_stack(const struct g *gp, uintptr_t lo)
{
    if (gp->is_main)
        scan_mapped(lo, (uintptr_t)gp->stack_hi);
    else
        scan_range(lo, (uintptr_t)gp->stack_hi);
}

/* The bytes of object o a scan reads: those asked for, when recorded; none of an object
 * that holds no pointer. */
static size_t
object_bytes(const struct gr_span *s, uintptr_t o)
{
    if (gr_load_relaxed(&s->state) != SPAN_SMALL) {
        size_t whole = s->npages * GR_HEAP_PAGE, asked = s->gc_size & ~GR_GC_NOSCAN_LARGE;
        if ((s->gc_size & GR_GC_NOSCAN_LARGE) != 0)
            return 0;
        return asked != 0 && asked <= whole ? asked : whole;
    }
    const struct gr_gc_slots *t = gr_load_relaxed(&s->gc_slots);
    uint32_t idx = (uint32_t)(((uint64_t)(o - s->base) * s->divmul) >> 32);
    if (t == NULL || idx >= t->cap)
        return s->size;
    uint32_t asked = t->slot[idx].size & ~GR_GC_NOSCAN_SMALL;
    if ((t->slot[idx].size & GR_GC_NOSCAN_SMALL) != 0)
        return 0;
    return asked != 0 && asked <= s->size ? asked : s->size;
}

static void
drain(void)
{
    while (nmark > 0) {
        uintptr_t o = markstack[--nmark];
        struct gr_span *s = gr_heap_span_of(o);
        scan_range(o, o + object_bytes(s, o));
    }
}

/* The calling G's stack from here, with its callee-saved registers spilled into this frame
 * first (__builtin_unwind_init); the caller's registers are on the stack above already. */
static GR_NOINLINE void
scan_self(const struct g *gp)
{
    volatile uintptr_t here = 0;

    __builtin_unwind_init();
    scan_range((uintptr_t)&here, (uintptr_t)gp->stack_hi);
}

/* A thread pointer's static TLS block and descriptor, as glibc lays them out (tls.h), and its
 * DTV, whose entries point at the dynamic TLS blocks. */
static void
scan_tls(uintptr_t tp)
{
    uintptr_t lo, hi;

    if (tp == 0)
        return;
    scan_range(tp + gr_tls.desc_size - gr_tls.static_size, tp + gr_tls.desc_size);
    /* A DTV in greenrun's heap is an object the descriptor's pointer reaches (and one being
     * freed by a G that is ending holds a free list's link where its length was); only one
     * outside it (ld.so's, for the initial thread) is scanned here, within a sane length. */
    gr_tls_dtv_range(tp, &lo, &hi);
    if (lo != 0 && !gr_malloc_owns((const void *)lo) && hi > lo && hi - lo <= MAX_DTV_BYTES)
        scan_range(lo, hi);
}

/* An M: its struct (g0 included) and its OS thread's TLS blocks: glibc's descriptor of the
 * thread and g0's block, whose DTVs glibc allocated. Program code never runs on g0, so its
 * stack is not a root. */
static void
scan_m(struct m *mp)
{
    /* An M whose thread has not run yet: its descriptor is known from pthread_create only. */
    uintptr_t desc = mp->sysdesc != 0 ? mp->sysdesc : gr_load_relaxed(&mp->pthread);

    scan_range((uintptr_t)mp, (uintptr_t)(mp + 1));
    scan_tls(desc);
    if (mp->ownfs != mp->sysdesc)
        scan_tls(mp->ownfs);
}

static void
scan_g(struct g *gp, struct g *self)
{
    uint32_t status = gr_load_relaxed(&gp->status);

    /* Its start argument before it runs, its result before it is joined, its DTV. */
    scan_range((uintptr_t)gp, (uintptr_t)(gp + 1));
    if (status == G_DEAD)
        return;
    scan_tls(gp->tp);
    if (gp == self) {
        scan_self(gp);
    } else if (status == G_SYSCALL && gr_load_relaxed(&gp->lockedm) == NULL &&
               gr_load_relaxed(&gp->syscallsp) != 0) {
        /* From a margin below the pointer entersyscall saw, for the frames of the call
         * (libc's wrapper) made after it; its registers are the kernel's, unseen. */
        uintptr_t sp = (uintptr_t)gr_load_relaxed(&gp->syscallsp);
        uintptr_t lo = sp - SYSCALL_MARGIN;
        if (lo < (uintptr_t)gp->stack_lo || lo > sp)
            lo = (uintptr_t)gp->stack_lo;
        scan_stack(gp, lo);
    } else if (status == G_RUNNING || status == G_SYSCALL ||
               gr_load_relaxed(&gp->lockedm) != NULL) {
        /* Its stack pointer is not known (a wired G waits in the kernel, on its own stack):
         * all of it, its registers unseen. */
        scan_stack(gp, (uintptr_t)gp->stack_lo);
    } else if (gp->ctx.sp != 0) {
        scan_range(gp->ctx.sp, (uintptr_t)gp->stack_hi);
    }
}

/* ---- The exit check: the report. */

struct tally {
    uint64_t count, bytes;
};

static struct tally *tallies; /* by site id */

static void
tally_span(struct gr_span *s, void *arg)
{
    uint64_t *total = arg;
    int state = gr_load_relaxed(&s->state);

    if (state == SPAN_SMALL && s->gc_bits != NULL) {
        const struct gr_gc_slots *t = gr_load_relaxed(&s->gc_slots);
        uint32_t nobj = (uint32_t)((s->limit - s->base) / s->size);
        for (uint32_t i = 0; i < nobj; i++) {
            uint64_t bit = (uint64_t)1 << (i & 63);
            if ((live_bits(s)[i >> 6] & bit) == 0 || (mark_bits(s)[i >> 6] & bit) != 0)
                continue;
            uint32_t site = 0, size = s->size;
            if (t != NULL && i < t->cap) {
                site = t->slot[i].site;
                if ((t->slot[i].size & ~GR_GC_NOSCAN_SMALL) != 0)
                    size = t->slot[i].size & ~GR_GC_NOSCAN_SMALL;
            }
            if (site == GC_SITE_RUNTIME)
                continue;
            if (site >= GC_MAX_SITES)
                site = 0;
            tallies[site].count++;
            tallies[site].bytes += size;
            total[0]++;
            total[1] += size;
        }
    } else if ((state == SPAN_LARGE || state == SPAN_HUGE) && !s->gc_mark &&
               s->gc_site != GC_SITE_RUNTIME) {
        uint32_t site = s->gc_site < GC_MAX_SITES ? s->gc_site : 0;
        uint64_t asked = s->gc_size & ~GR_GC_NOSCAN_LARGE;
        uint64_t size = asked != 0 ? asked : s->npages * GR_HEAP_PAGE;
        tallies[site].count++;
        tallies[site].bytes += size;
        total[0]++;
        total[1] += size;
    }
}

/* Snapshot every span (world stopped): small spans' objects in use, large ones unmarked. */
static void
snap_span(struct gr_span *s, void *arg)
{
    size_t *live = arg;
    int state = gr_load_relaxed(&s->state);

    s->gc_bits = NULL;
    s->gc_mark = false;
    if (state == SPAN_SMALL) {
        uint32_t nobj = (uint32_t)((s->limit - s->base) / s->size);
        uint64_t w = (nobj + 63) / 64;
        uint64_t *bits = arena_alloc((1 + 2 * w) * sizeof(uint64_t));
        if (bits == NULL)
            return; /* its objects count as neither live nor leaked */
        memset(bits, 0, (1 + 2 * w) * sizeof(uint64_t));
        bits[0] = w;
        *live += gr_malloc_span_live(s, bits + 1);
        s->gc_bits = bits;
    } else if (state == SPAN_LARGE || state == SPAN_HUGE) {
        *live += 1;
    }
}

/* A buffered writer for the JSON file. */
struct out {
    int fd;
    size_t len;
    char buf[4096];
};

static void
out_flush(struct out *o)
{
    size_t done = 0;

    while (done < o->len) {
        ssize_t r = gr_sys_write(o->fd, o->buf + done, o->len - done);
        if (r <= 0)
            break;
        done += (size_t)r;
    }
    o->len = 0;
}

static void
out_put(struct out *o, const char *s)
{
    for (; *s != '\0'; s++) {
        if (o->len == sizeof(o->buf))
            out_flush(o);
        o->buf[o->len++] = *s;
    }
}

static void
out_fmt(struct out *o, const char *fmt, unsigned long long v)
{
    char tmp[64];

    gr_snprint(tmp, sizeof(tmp), fmt, v);
    out_put(o, tmp);
}

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void
out_str(struct out *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    out_put(o, "\"");
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char e[7] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0 };
        char one[2] = { (char)c, 0 };
        if (c == '"' || c == '\\') {
            char q[3] = { '\\', (char)c, 0 };
            out_put(o, q);
        } else if (c < 0x20) {
            out_put(o, e);
        } else {
            out_put(o, one);
        }
    }
    out_put(o, "\"");
}

/* The report file, new (O_EXCL, never through a symlink), mode 0600; -1 when there is none
 * to write (no path, or secure execution) or it cannot be created (said on stderr). */
static int
open_report(const char *path)
{
    long fd;

    if (path == NULL)
        return -1;
    if (getauxval(AT_SECURE) != 0) {
        gr_print("greenrun: GREENRUN_GC_REPORT ignored: secure execution (set-user-ID or "
                 "capabilities)\n");
        return -1;
    }
    fd = gr_syscall4(SYS_openat, AT_FDCWD, path,
                     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        gr_print("greenrun: GREENRUN_GC_REPORT=%s: cannot create %s (error %ld); it must not "
                 "exist yet\n",
                 report_path, path, -fd);
        return -1;
    }
    return (int)fd;
}

/* One frame's name: function and offset (libunwind reads the symbol tables, static functions
 * included), and the object it lies in (dladdr). */
struct frame {
    char fn[160];
    unsigned long off;
    const char *obj;
};

static void
symbolize(struct gr_symcache *sc, uintptr_t pc, struct frame *f)
{
    struct gr_frame uf;
    Dl_info info;

    f->obj = "?";
    gr_unwind_name_pc(pc, &uf, sc);
    gr_snprint(f->fn, sizeof(f->fn), "%s", uf.name);
    f->off = uf.off;
    if (dladdr((void *)(pc - 1), &info) != 0) {
        if (info.dli_fname != NULL && info.dli_fname[0] != '\0')
            f->obj = info.dli_fname;
        if (f->fn[0] == '\0' && info.dli_sname != NULL) {
            gr_snprint(f->fn, sizeof(f->fn), "%s", info.dli_sname);
            f->off = (unsigned long)(pc - (uintptr_t)info.dli_saddr);
        }
    }
}

/* Does site a come after site b in the report (fewer bytes, then fewer objects)? */
static bool
site_after(uint32_t a, uint32_t b)
{
    return tallies[a].bytes < tallies[b].bytes ||
           (tallies[a].bytes == tallies[b].bytes && tallies[a].count < tallies[b].count);
}

static void
sift_down(uint32_t *v, uint32_t i, uint32_t n)
{
    for (;;) {
        uint32_t c = 2 * i + 1, t;
        if (c >= n)
            return;
        if (c + 1 < n && site_after(v[c + 1], v[c]))
            c++;
        if (!site_after(v[c], v[i]))
            return;
        t = v[i];
        v[i] = v[c];
        v[c] = t;
        i = c;
    }
}

/* Largest first: a heap sort (no allocation, n log n for any number of sites). The heap
 * keeps the site that comes last on top, which the sort moves to the end. */
static void
sort_sites(uint32_t *v, uint32_t n)
{
    for (uint32_t i = n / 2; i-- > 0;)
        sift_down(v, i, n);
    for (uint32_t end = n; end > 1; end--) {
        uint32_t t = v[0];
        v[0] = v[end - 1];
        v[end - 1] = t;
        sift_down(v, 0, end - 1);
    }
}

static void
report(const char *path, uint64_t nleaked, uint64_t bytes, uint64_t nlive)
{
    uint32_t n = gr_load_acquire(&nsites), nused = 0;
    uint32_t *order = arena_alloc((size_t)(n + 1) * sizeof(uint32_t));
    /* Names by pc: the stacks of one report share most of their frames. Zeroed (fresh). */
    struct gr_symcache *sc = arena_alloc(sizeof(*sc));
    struct out *o = NULL;
    int fd = open_report(path);

    if (order == NULL)
        return;
    for (uint32_t id = 0; id < n; id++)
        if (tallies[id].count != 0)
            order[nused++] = id;
    sort_sites(order, nused);
    if (fd >= 0 && (o = arena_alloc(sizeof(*o))) != NULL) {
        o->fd = fd;
        o->len = 0;
        out_put(o, "{\"version\":1,\"mode\":");
        out_put(o, collect_asked ? "\"collect-as-leak\"" : "\"leak\"");
        out_fmt(o, ",\"live_objects\":%llu", (unsigned long long)nlive);
        out_fmt(o, ",\"leaked_objects\":%llu", (unsigned long long)nleaked);
        out_fmt(o, ",\"leaked_bytes\":%llu,\"stacks\":[", (unsigned long long)bytes);
    }
    if (nleaked == 0)
        gr_print("greenrun: leak check: no leaks (%lu objects in use, all reachable)\n",
                 (unsigned long)nlive);
    else
        gr_print("greenrun: leak check: %lu bytes in %lu objects not reachable, from %u "
                 "allocation stacks (GREENRUN_GC=leak)\n",
                 (unsigned long)bytes, (unsigned long)nleaked, nused);
    for (uint32_t i = 0; i < nused; i++) {
        uint32_t id = order[i];
        const struct site *st = &sites[id];
        uint32_t depth = id == 0 ? 0 : st->depth;
        gr_print("greenrun: leak: %lu bytes in %lu objects allocated at:\n",
                 (unsigned long)tallies[id].bytes, (unsigned long)tallies[id].count);
        if (id == 0)
            gr_print("greenrun:     (no stack: allocated before boot, on a thread greenrun does "
                     "not run, or by the unwinder)\n");
        if (o != NULL) {
            out_put(o, i == 0 ? "{" : ",{");
            out_fmt(o, "\"count\":%llu", (unsigned long long)tallies[id].count);
            out_fmt(o, ",\"bytes\":%llu,\"frames\":[", (unsigned long long)tallies[id].bytes);
        }
        for (uint32_t k = 0; k < depth; k++) {
            uintptr_t pc = site_pcs[st->first + k];
            struct frame f;
            symbolize(sc, pc, &f);
            if (f.fn[0] != '\0')
                gr_print("greenrun:     #%u %p in %s+0x%lx (%s)\n", k, (void *)pc, f.fn, f.off,
                         f.obj);
            else
                gr_print("greenrun:     #%u %p (%s)\n", k, (void *)pc, f.obj);
            if (o != NULL) {
                out_put(o, k == 0 ? "{" : ",{");
                out_fmt(o, "\"pc\":\"0x%llx\",\"function\":", (unsigned long long)pc);
                out_str(o, f.fn);
                out_fmt(o, ",\"offset\":%llu,\"object\":", (unsigned long long)f.off);
                out_str(o, f.obj);
                out_put(o, "}");
            }
        }
        if (o != NULL)
            out_put(o, "]}");
    }
    if (o != NULL) {
        out_put(o, "]}\n");
        out_flush(o);
    }
    if (fd >= 0)
        gr_sys_close(fd);
}

/*
 * The check (this file's header, steps 1 to 5): self is the calling G, or NULL on a thread
 * that is none (the on-demand check's); path is where the JSON goes, or NULL. Requires: the
 * check claimed (checking), leak mode on, the runtime running.
 */
static void
leak_check(struct g *self, const char *path)
{
    static char procbuf[65536];
    struct g *gp;
    size_t live = 0;
    uint64_t total[2] = { 0, 0 }, all = ~(uint64_t)0, oldmask;
    int64_t stopped;

    nsegs = nkroots = 0;
    nmark = 0;
    segs = arena_alloc(GC_MAX_SEGS * sizeof(*segs));
    kroots = arena_alloc(GC_MAX_KROOTS * sizeof(*kroots));
    tallies = arena_alloc(GC_MAX_SITES * sizeof(*tallies));
    if (segs == NULL || kroots == NULL || tallies == NULL) {
        gr_print("greenrun: leak check skipped: no memory\n");
        return;
    }
    /* A program thread inside dl_iterate_phdr holds ld.so's lock, maybe for good (waiting for
     * another thread): give it a second, then do without the check rather than hang. */
    for (int i = 0; gr_load(&program_iterating) != 0; i++) {
        if (i == 1000) {
            gr_print("greenrun: leak check skipped: a thread is still inside dl_iterate_phdr\n");
            return;
        }
        struct timespec ms = { 0, 1000000 };
        gr_syscall2(SYS_nanosleep, &ms, NULL);
    }
    gr_real.dl_iterate_phdr(collect_segment, NULL);
    collect_loader_memory();
    collect_kernel_roots(procbuf, sizeof(procbuf));

    /* The stop (this file's header): no G starts or ends, no object comes or goes. No
     * handler runs on this thread meanwhile: one that allocated would wait for the allocator's
     * locks, held here, for ever. */
    gr_sys_sigprocmask(SIG_SETMASK, &all, &oldmask);
    gr_lock(&gr_sched.glock);
    gr_malloc_world_stop();
    stopped = gr_nanotime();
    gr_heap_each_span(snap_span, &live);
    markcap = live;
    markstack = arena_alloc((live + 1) * sizeof(uintptr_t));
    if (markstack == NULL) {
        gr_malloc_world_start();
        gr_unlock(&gr_sched.glock);
        gr_sys_sigprocmask(SIG_SETMASK, &oldmask, NULL);
        gr_print("greenrun: leak check skipped: no memory\n");
        return;
    }
    for (int i = 0; i < nsegs; i++) {
        scan_range(segs[i].lo, segs[i].hi);
        drain();
    }
    for (int i = 0; i < nkroots; i++)
        mark_word(kroots[i]);
    drain();
    for (gp = gr_sched.allg; gp != NULL; gp = gp->allnext) {
        scan_g(gp, self);
        drain();
    }
    for (struct m *mp = gr_load_acquire(&gr_sched.allm); mp != NULL; mp = mp->alllink) {
        scan_m(mp);
        drain();
    }
    /* The reporter's TLS (report_main says why), the checking thread's own when it is. */
    scan_tls((uintptr_t)gr_load_acquire(&reporter_tp));
    drain();
    gr_heap_each_span(tally_span, total);
    gr_malloc_world_start();
    gr_unlock(&gr_sched.glock);
    gr_sys_sigprocmask(SIG_SETMASK, &oldmask, NULL);
    gr_lock(&stats_lock);
    stats.checks++;
    stats.live_objects = live;
    stats.leaked_objects = total[0];
    stats.leaked_bytes = total[1];
    stats.last_pause_ns = gr_nanotime() - stopped;
    gr_unlock(&stats_lock);

    report(path, total[0], total[1], live);
}

void
gr_gc_exit(void)
{
    struct g *self;

    if (!gr_gc_leak || gr_load(&gr_state) != GR_STATE_RUNNING)
        return;
    self = gr_current();
    if (self == NULL) {
        gr_print("greenrun: leak check skipped: the process exits from a thread greenrun does "
                 "not run\n");
        return;
    }
    if (!check_claim(10000)) {
        gr_print("greenrun: leak check skipped: an on-demand check still runs after 10 s\n");
        return;
    }
    /* The last check: its memory stays mapped (the process is ending), checking stays
     * claimed so that no on-demand check starts after it. */
    leak_check(self, report_path);
}

/* ---- On demand: GREENRUN_GC_REPORT_SIGNAL and greenrun_gc (gc.h). */

#define REPORT_STACK_SIZE (1024 * 1024) /* the checking thread's: libunwind, the report */

static struct gr_atomic_u32 report_pending; /* atomic: the signal asked for a check */
static unsigned nreports;                   /* on-demand checks so far; under checking */

/* An on-demand check by the claimer: the JSON goes to GREENRUN_GC_REPORT.N, N counting
 * these checks from 1 (the exit's report keeps the plain name). Its memory is returned. */
static void
check_on_demand(struct g *self)
{
    static char path[4096 + 16];

    nreports++;
    if (report_path != NULL)
        gr_snprint(path, sizeof(path), "%s.%u", report_path, nreports);
    gr_print("greenrun: leak check #%u on demand (the program keeps running)\n", nreports);
    leak_check(self, report_path != NULL ? path : NULL);
    arena_release();
    gr_store(&checking, 0);
}

int
gr_gc_run(void)
{
    if (!gr_gc_leak || gr_load(&gr_state) != GR_STATE_RUNNING)
        return -ENOSYS;
    check_claim(INT32_MAX);
    /* After the exit's check has claimed it for good, this waits until the process ends. */
    check_on_demand(gr_current());
    return 0;
}

/* The reporter: a thread of glibc's that lives on once started, so that its TLS (whose DTV
 * glibc allocated from the heap) stays where every check finds it (reporter_tp) rather than
 * in glibc's cache of finished threads' stacks, which no check scans. It sleeps on
 * report_pending. */
static void *
report_main(void *arg)
{
    (void)arg;
    gr_store_release(&reporter_tp, gr_get_tp());
    for (;;) {
        uint32_t one = 1;
        while (gr_load(&report_pending) == 0)
            gr_sys_futex_wait(gr_atomic_word(&report_pending), 0, -1);
        if (!gr_cas(&report_pending, &one, 0))
            continue;
        /* A check under way (greenrun_gc's) serves this request too; the exit's ends it. */
        if (check_claim(0))
            check_on_demand(NULL);
    }
    return NULL;
}

void
gr_gc_sigreport(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    gr_store(&report_pending, 1);
    gr_sysmon_kick();
}

void
gr_gc_sysmon(void)
{
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_t t;
    int err;

    if (gr_load_relaxed(&report_pending) == 0)
        return;
    if (gr_load(&report_started) != 0) {
        gr_sys_futex_wake(gr_atomic_word(&report_pending), 1);
        return;
    }
    gr_store(&report_started, 1);
    /* Not on sysmon: the check waits for the allocator's locks and calls libc (libunwind,
     * dladdr), which a G may hold; a thread of glibc's waits instead (dump.c does the same). */
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, REPORT_STACK_SIZE);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    gr_sys_sigprocmask(SIG_SETMASK, &all, &old);
    err = gr_real.pthread_create(&t, &attr, report_main, NULL);
    gr_sys_sigprocmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        gr_print("greenrun: GREENRUN_GC_REPORT_SIGNAL: cannot start the leak check (error %d)\n",
                 err);
        gr_store(&report_pending, 0);
        gr_store(&report_started, 0);
    }
}

bool
gr_gc_signal_takes(int sig, const struct sigaction *act, struct sigaction *mine)
{
    if (report_signal == 0 || sig != report_signal || act->sa_handler != SIG_DFL ||
        !gr_sched_booted())
        return false;
    memset(mine, 0, sizeof(*mine));
    mine->sa_sigaction = gr_gc_sigreport;
    mine->sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&mine->sa_mask);
    return true;
}
