/*
 * runtime/gc.c: GREENRUN_GC=leak and collect: allocation stacks, and a mark from conservative
 * roots through the heap, precisely: at exit with a report of the objects nothing reaches
 * (LeakSanitizer's report, from greenrun's own knowledge of every G), and in collect mode
 * during the run as well, freeing them (the "Collections" part at the end).
 *
 * Recording. Every allocation in leak mode ends in gr_gc_record (malloc.c), which unwinds the
 * stack with libunwind's unw_backtrace (DWARF tables: complete for code built without frame
 * pointers), drops the frames inside this library, and interns the first GC_DEPTH frames in
 * the site table: identical stacks share one entry, whose id goes in the object's slot of its
 * span's side table (heap.h's gc_slots; a large object's span holds it itself), with the size
 * asked for. libunwind is loaded with dlopen at boot, so GREENRUN_GC=off never maps it.
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
 * The exit check frees nothing. Its memory is mapped and never returned (the process is
 * ending).
 *
 * Collections (collect mode): the pacer (GREENRUN_GC_PERCENT over the live heap the last one
 * left, 4 MB at least) starts one in an allocation of the program's (gr_gc_poll). The same
 * roots, then the same stop, and every other M running a G stopped besides: by the
 * preemption signal (SI_QUEUE), whose handler publishes its context and waits; Ms on g0 and
 * Gs in syscall mode wait at execute and exitsyscall instead. Mark as above plus the stopped
 * contexts; the sweep links the objects nothing reached; the world restarts and they are
 * freed with gr_free. docs/design.md ("GREENRUN_GC=collect") says what it cannot see.
 *
 * Locks: site_lock (leaf) guards the table's insertions; readers of an id's entry need none
 * (entries are written before their id is published and never change). The exit check and a
 * collection take gr_sched.glock, then the allocator's locks (untracked, fork's order); the
 * collecting flag (a CAS, not a lock) lets one of them run at a time and guards their arena
 * and root tables.
 */
#include "runtime/gc.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "runtime/atomic.h"
#include "runtime/base.h"
#include "runtime/boot.h"
#include "runtime/debug.h"
#include "runtime/heap.h"
#include "runtime/libc.h"
#include "runtime/lock.h"
#include "runtime/malloc.h"
#include "runtime/preempt.h"
#include "runtime/proc.h"
#include "runtime/sched.h"
#include "runtime/sys.h"
#include "runtime/tls.h"

#define GC_DEPTH        24              /* frames kept per stack */
#define GC_RAW          (GC_DEPTH + 16) /* frames unwound: the runtime's come first */
#define GC_MAX_SITES    ((size_t)1 << 20)
#define GC_MAX_PCS      ((size_t)1 << 24)
#define GC_BUCKETS      ((size_t)1 << 16)
#define GC_MAX_SEGS     4096
#define GC_MAX_KROOTS   65536
#define SYSCALL_MARGIN  4096       /* bytes scanned below a G's stack pointer at entersyscall */
#define GC_SITE_RUNTIME UINT32_MAX /* the unwinder's own objects: never reported */
#define GC_SITE_KEEP    (UINT32_MAX - 1) /* collect: allocated where no root is known; never freed */
#define MAX_DTV_BYTES   ((uintptr_t)1 << 20) /* a DTV longer than this is not one */
#define GC_STR(x)       #x
#define GC_NAME(x)      GC_STR(x) /* the symbol a libunwind.h macro stands for */

bool gr_gc_leak;
bool gr_gc_collect;

static struct gr_atomic_u64 alloc_bytes; /* atomic: bytes allocated since the last collection */

static const char *report_path; /* immutable after the constructor */

/* libunwind, loaded at boot (gr_gc_boot); NULL before, or when it is missing. */
static struct {
    int (*backtrace)(void **buf, int size);
    int (*getcontext)(unw_context_t *uc);
    int (*init_local)(unw_cursor_t *c, unw_context_t *uc);
    int (*set_reg)(unw_cursor_t *c, unw_regnum_t r, unw_word_t v);
    int (*get_proc_name)(unw_cursor_t *c, char *buf, size_t len, unw_word_t *off);
} unw;
static GR_ATOMIC_PTR(void) unw_ready; /* atomic: set (release) once unw is filled */

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
static struct site *sites;          /* GC_MAX_SITES entries reserved; entry 0 is "unknown" */
static uintptr_t *site_pcs;         /* GC_MAX_PCS reserved */
static uint32_t *buckets;           /* GC_BUCKETS chain heads */
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

/* The id of the stack pcs[0..n), interned; 0 when the table is full. */
static uint32_t
intern(void *const *pcs, int n)
{
    uint64_t h = hash_pcs(pcs, n);
    uint32_t *head = &buckets[h & (GC_BUCKETS - 1)], id;

    gr_lock(&site_lock);
    for (id = *head; id != 0; id = sites[id].next) {
        struct site *st = &sites[id];
        if (st->hash == h && st->depth == (uint32_t)n &&
            memcmp(&site_pcs[st->first], pcs, (size_t)n * sizeof(uintptr_t)) == 0)
            break;
    }
    if (id == 0) {
        id = gr_load_relaxed(&nsites);
        if (id < GC_MAX_SITES && npcs + (uint32_t)n <= GC_MAX_PCS) {
            struct site *st = &sites[id];
            st->hash = h;
            st->depth = (uint32_t)n;
            st->first = npcs;
            memcpy(&site_pcs[npcs], pcs, (size_t)n * sizeof(uintptr_t));
            npcs += (uint32_t)n;
            st->next = *head;
            *head = id;
            /* Pairs with the load-acquire in the report: the entry is complete. */
            gr_store_release(&nsites, id + 1);
        } else {
            id = 0;
        }
    }
    gr_unlock(&site_lock);
    return id;
}

/* raw[0..n) without the runtime's own frames at its start, interned. */
static uint32_t
intern_program_frames(void **raw, int n)
{
    int k = 0;

    while (k < n && (uintptr_t)raw[k] >= self_lo && (uintptr_t)raw[k] < self_hi)
        k++;
    if (n - k <= 0)
        return 0;
    return intern(raw + k, n - k < GC_DEPTH ? n - k : GC_DEPTH);
}

/*
 * The program's threads inside dl_iterate_phdr, and the records inside libunwind (which
 * calls it too): never both (gc.h). Each side adds itself, then looks at the other (sequentially
 * consistent, so at least one of two racing sides sees the other): a record that sees a
 * program thread walks frame pointers instead; a program thread that sees records waits for
 * them to finish, which they do without waiting for anyone.
 */
static struct gr_atomic_u32 program_iterating;
static struct gr_atomic_u32 unwinding;

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

/* The calling G's allocation stack, interned. Requires: unw loaded. */
static uint32_t
stack_site(const struct g *gp)
{
    void *raw[GC_RAW];
    uint32_t site;

    gr_xadd(&unwinding, 1);
    if (gr_load(&program_iterating) != 0)
        site = fp_site(gp);
    else
        site = intern_program_frames(raw, unw.backtrace(raw, GC_RAW));
    gr_xadd(&unwinding, -1);
    return site;
}

int
gr_gc_iterate_phdr(int (*callback)(struct dl_phdr_info *info, size_t size, void *data), void *data)
{
    int r;

    if (gr_gc_unwinding()) /* libunwind's own */
        return gr_real.dl_iterate_phdr(callback, data);
    gr_xadd(&program_iterating, 1);
    while (gr_load(&unwinding) != 0)
        gr_sys_sched_yield();
    r = gr_real.dl_iterate_phdr(callback, data);
    gr_xadd(&program_iterating, -1);
    return r;
}

/* ---- Configuration and boot. */

void
gr_gc_configure(int mode, const char *report)
{
    if (mode == 0)
        return;
    gr_gc_collect = mode == 2;
    report_path = report;
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

void
gr_gc_boot(void)
{
    struct g *gp;
    void *h;

    if (!gr_gc_leak)
        return;
    gr_real.dl_iterate_phdr(find_self, (void *)(uintptr_t)&gr_gc_boot);
    sites = map_noreserve(GC_MAX_SITES * sizeof(*sites));
    site_pcs = map_noreserve(GC_MAX_PCS * sizeof(*site_pcs));
    buckets = map_noreserve(GC_BUCKETS * sizeof(*buckets));
    if (sites == NULL || site_pcs == NULL || buckets == NULL) {
        gr_print("greenrun: GREENRUN_GC=leak: no memory for the site table; allocation stacks "
                 "are not recorded\n");
        return;
    }
    gr_store_relaxed(&nsites, 1);
    h = gr_real.dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        gr_print("greenrun: GREENRUN_GC=leak: cannot load libunwind.so.8 (Debian: libunwind8); "
                 "leaks are reported without allocation stacks\n");
        return;
    }
    /* The header's macros name each function as this architecture's library exports it
     * (_ULx86_64_init_local on x86_64). */
    unw.backtrace = (int (*)(void **, int))dlsym(h, "unw_backtrace");
    unw.getcontext = (int (*)(unw_context_t *))dlsym(h, GC_NAME(unw_tdep_getcontext));
    unw.init_local = (int (*)(unw_cursor_t *, unw_context_t *))dlsym(h, GC_NAME(unw_init_local));
    unw.set_reg = (int (*)(unw_cursor_t *, unw_regnum_t, unw_word_t))dlsym(h, GC_NAME(unw_set_reg));
    unw.get_proc_name =
        (int (*)(unw_cursor_t *, char *, size_t, unw_word_t *))dlsym(h, GC_NAME(unw_get_proc_name));
    if (unw.backtrace == NULL || unw.getcontext == NULL || unw.init_local == NULL ||
        unw.set_reg == NULL || unw.get_proc_name == NULL) {
        gr_print("greenrun: GREENRUN_GC=leak: libunwind.so.8 lacks the functions it needs; "
                 "leaks are reported without allocation stacks\n");
        return;
    }
    /* libunwind sets itself up at its first use, opening a pipe: here, on the main G, as
     * the unwinder (the pipe goes to the runtime's range, hooks/fd.c). */
    gp = gr_current();
    if (gp != NULL) {
        void *pc;
        gp->inhandler++;
        gp->gc_recording = gp->inhandler;
        unw.backtrace(&pc, 1);
        gp->gc_recording = 0;
        gp->inhandler--;
    }
    /* Pairs with the load-acquire in gr_gc_record. */
    gr_store_release(&unw_ready, (void *)&unw);
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
gr_gc_slots_release(struct gr_span *s)
{
    struct gr_gc_slots *t = gr_xchg(&s->gc_slots, NULL);

    if (t != NULL)
        gr_sys_munmap(t, sizeof(*t) + (size_t)t->cap * sizeof(struct gr_gc_slot));
}

void
gr_gc_record(void *p, size_t n)
{
    struct gr_span *s;
    struct g *gp;
    uint32_t site = 0;

    if (p == NULL)
        return;
    if (gr_gc_collect)
        gr_xadd_relaxed(&alloc_bytes, n); /* the pacer's */
    gp = gr_current();
    if (gp == NULL && gr_gc_collect) {
        /* Before boot, or on a thread greenrun does not run (its stack is no root): kept. */
        site = GC_SITE_KEEP;
    } else if (gp != NULL && gp->gc_recording != 0) {
        /* Nested in a record: libunwind's own memory (its per-thread cache and TLS), which is
         * the leak mode's and never reported, or a signal handler's that interrupted the
         * record (its handler depth is deeper), which gets no stack. */
        site = gp->inhandler == gp->gc_recording ? GC_SITE_RUNTIME : 0;
    } else if (gp != NULL && gr_load_acquire(&unw_ready) != NULL) {
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

bool
gr_gc_unwinding(void)
{
    struct g *gp = gr_current();

    return gp != NULL && gp->gc_recording != 0;
}

static void collect_forbid(void);
static void collect_fork_child(void);

/* ---- fork: a child must not inherit a held site_lock, nor a collection in progress. */

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
    collect_fork_child();
}

/* ---- The exit check: memory and roots gathered before the stop. */

/* Memory for the check, carved from mappings: the exit check never returns it, a collection
 * returns it all at its end (arena_release). Protected by the collecting flag. */
#define ARENA_MAX_CHUNKS 64
static char *arena_cur, *arena_end;
static struct range {
    uintptr_t lo, hi;
} arena_chunks[ARENA_MAX_CHUNKS];
static int arena_nchunks;

static void *
arena_alloc(size_t bytes)
{
    bytes = gr_round_up(bytes, 16);
    if ((size_t)(arena_end - arena_cur) < bytes) {
        size_t chunk = bytes > ((size_t)4 << 20) ? gr_round_up(bytes, 4096) : (size_t)4 << 20;
        char *m;
        if (arena_nchunks == ARENA_MAX_CHUNKS)
            return NULL;
        m = map_noreserve(chunk);
        if (m == NULL)
            return NULL;
        arena_chunks[arena_nchunks].lo = (uintptr_t)m;
        arena_chunks[arena_nchunks].hi = (uintptr_t)m + chunk;
        arena_nchunks++;
        arena_cur = m;
        arena_end = m + chunk;
    }
    void *p = arena_cur;
    arena_cur += bytes;
    return p;
}

static void
arena_release(void)
{
    for (int i = 0; i < arena_nchunks; i++)
        gr_sys_munmap((void *)arena_chunks[i].lo, arena_chunks[i].hi - arena_chunks[i].lo);
    arena_nchunks = 0;
    arena_cur = arena_end = NULL;
}

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
    /* Static, not on the stack: a collection runs on the allocating G's stack, which may be
     * small; the collecting flag lets one reader in at a time. */
    static char chunk[4096], line[512];
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
    static char dents[4096]; /* static: as collect_loader_memory's buffers */
    char path[64];
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

/* The bytes of object o a scan reads: those asked for, when recorded. */
static size_t
object_bytes(const struct gr_span *s, uintptr_t o)
{
    /* A collection frees what it misses: it reads all a program may use (malloc_usable_size). */
    if (gr_gc_collect)
        return gr_load_relaxed(&s->state) == SPAN_SMALL ? s->size : s->npages * GR_HEAP_PAGE;
    if (gr_load_relaxed(&s->state) != SPAN_SMALL) {
        size_t whole = s->npages * GR_HEAP_PAGE;
        return s->gc_size != 0 && s->gc_size <= whole ? s->gc_size : whole;
    }
    const struct gr_gc_slots *t = gr_load_relaxed(&s->gc_slots);
    uint32_t idx = (uint32_t)(((uint64_t)(o - s->base) * s->divmul) >> 32);
    if (t != NULL && idx < t->cap && t->slot[idx].size != 0 && t->slot[idx].size <= s->size)
        return t->slot[idx].size;
    return s->size;
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
                if (t->slot[i].size != 0)
                    size = t->slot[i].size;
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
        uint64_t size = s->gc_size != 0 ? s->gc_size : s->npages * GR_HEAP_PAGE;
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
open_report(void)
{
    long fd;

    if (report_path == NULL)
        return -1;
    if (getauxval(AT_SECURE) != 0) {
        gr_print("greenrun: GREENRUN_GC_REPORT ignored: secure execution (set-user-ID or "
                 "capabilities)\n");
        return -1;
    }
    fd = gr_syscall4(SYS_openat, AT_FDCWD, report_path,
                     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        gr_print("greenrun: GREENRUN_GC_REPORT=%s: cannot create it (error %ld); it must not "
                 "exist yet\n",
                 report_path, -fd);
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
symbolize(unw_cursor_t *cur, bool have_cursor, uintptr_t pc, struct frame *f)
{
    Dl_info info;
    unw_word_t off = 0;

    f->fn[0] = '\0';
    f->off = 0;
    f->obj = "?";
    /* pc is a return address: look up the call (pc - 1), report the offset of pc. */
    if (have_cursor && unw.set_reg(cur, UNW_REG_IP, pc - 1) == 0 &&
        unw.get_proc_name(cur, f->fn, sizeof(f->fn), &off) == 0)
        f->off = (unsigned long)off + 1;
    else
        f->fn[0] = '\0';
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
report(uint64_t nleaked, uint64_t bytes, uint64_t nlive)
{
    uint32_t n = gr_load_acquire(&nsites), nused = 0;
    uint32_t *order = arena_alloc((size_t)(n + 1) * sizeof(uint32_t));
    unw_context_t uc;
    unw_cursor_t cur;
    bool have_cursor = false;
    struct out *o = NULL;
    int fd = open_report();

    if (order == NULL)
        return;
    if (gr_load_relaxed(&unw_ready) != NULL && unw.getcontext(&uc) == 0 &&
        unw.init_local(&cur, &uc) == 0)
        have_cursor = true;
    for (uint32_t id = 0; id < n; id++)
        if (tallies[id].count != 0)
            order[nused++] = id;
    sort_sites(order, nused);
    if (fd >= 0 && (o = arena_alloc(sizeof(*o))) != NULL) {
        o->fd = fd;
        o->len = 0;
        out_put(o, "{\"version\":1,\"mode\":");
        out_put(o, gr_gc_collect ? "\"collect\"" : "\"leak\"");
        out_fmt(o, ",\"live_objects\":%llu", (unsigned long long)nlive);
        out_fmt(o, ",\"leaked_objects\":%llu", (unsigned long long)nleaked);
        out_fmt(o, ",\"leaked_bytes\":%llu,\"stacks\":[", (unsigned long long)bytes);
    }
    if (nleaked == 0)
        gr_print("greenrun: leak check: no leaks (%lu objects in use, all reachable)\n",
                 (unsigned long)nlive);
    else
        gr_print("greenrun: leak check: %lu bytes in %lu objects not reachable, from %u "
                 "allocation stacks (GREENRUN_GC=%s)\n",
                 (unsigned long)bytes, (unsigned long)nleaked, nused,
                 gr_gc_collect ? "collect: since the last collection" : "leak");
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
            symbolize(&cur, have_cursor, pc, &f);
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

void
gr_gc_exit(void)
{
    static char procbuf[65536];
    struct g *self, *gp;
    size_t live = 0;
    uint64_t total[2] = { 0, 0 }, all = ~(uint64_t)0, oldmask;

    if (!gr_gc_leak || gr_load(&gr_state) != GR_STATE_RUNNING)
        return;
    self = gr_current();
    if (self == NULL) {
        gr_print("greenrun: leak check skipped: the process exits from a thread greenrun does "
                 "not run\n");
        return;
    }
    collect_forbid();
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
    gr_heap_each_span(tally_span, total);
    gr_malloc_world_start();
    gr_unlock(&gr_sched.glock);
    gr_sys_sigprocmask(SIG_SETMASK, &oldmask, NULL);

    report(total[0], total[1], live);
}

/* ---- GREENRUN_GC=collect: collections. */

#define GC_MIN_HEAP     ((uint64_t)4 << 20) /* no collection before the heap reaches this */
#define STOP_TIMEOUT_NS 200000000LL         /* an M that does not stop by then: give up */
#define STOP_RESEND_NS  2000000LL           /* send the stop signal again this often */
#define RED_ZONE        128                 /* below a stopped G's stack pointer: its leaf's */
#define MAX_ASKED       65536               /* Ms a stop can wait for */
#define STOP_ACKED      0x80000000u         /* in m->gcstop: the M stopped for that epoch */

static int gc_percent = 100; /* immutable after the constructor: GREENRUN_GC_PERCENT, -1 off */
static bool gctrace;         /* immutable after the constructor: GREENRUN_DEBUG=gctrace */
static int64_t gc_start_ns;  /* immutable after the constructor: gctrace's time origin */
static struct gr_atomic_u64 trigger;    /* atomic: alloc_bytes that starts the next collection;
                                           written by the collector */
static struct gr_atomic_u32 collecting; /* atomic: 1 while a collection or the exit check runs,
                                           and for good once the exit check has begun */
static struct gr_atomic_u32 stopping;   /* atomic: the epoch of the stop in progress, 0 while
                                           the world runs; Ms wait on it (futex) */
static struct gr_atomic_u32 nstopped;   /* atomic: bumped by each acknowledgment, to wake the
                                           collector (futex) */
static uint32_t epoch;                  /* protected by collecting */
static uint64_t ncollections;           /* protected by collecting */
static struct m **asked;                /* protected by collecting: the Ms sent the stop */
static int nasked;

static int find_ldso(struct dl_phdr_info *info, size_t size, void *arg);

void
gr_gc_pacer(int percent, bool trace)
{
    if (!gr_gc_collect)
        return;
    gc_percent = percent == 0 ? 100 : percent;
    gctrace = trace;
    gc_start_ns = gr_nanotime();
    gr_store_relaxed(&trigger, gc_percent < 0 ? UINT64_MAX : GC_MIN_HEAP);
    gr_real.dl_iterate_phdr(find_ldso, NULL);
}

/* No collection from now on (the exit check runs, once any collection has ended). */
static void
collect_forbid(void)
{
    for (;;) {
        uint32_t zero = 0;
        if (gr_cas(&collecting, &zero, 1))
            return;
        struct timespec ms = { 0, 1000000 };
        gr_syscall2(SYS_nanosleep, &ms, NULL);
    }
}

/* The child has one thread: no collection is running in it, and no stop. */
static void
collect_fork_child(void)
{
    gr_store_relaxed(&collecting, 0);
    gr_store_relaxed(&stopping, 0);
    gr_store_relaxed(&nstopped, 0);
}

void
gr_gc_keep_syscall_regs(const uintptr_t *frame)
{
    struct g *gp = gr_current();

    /* The prologue saved them just below the frame pointer (the library keeps frame
     * pointers); a word more or less only keeps an object a collection longer. */
    if (gp != NULL)
        memcpy(gp->gc_sysregs, frame - GR_ARRAY_LEN(gp->gc_sysregs), sizeof(gp->gc_sysregs));
}

void
gr_gc_safepoint(void)
{
    uint32_t ep;

    /* Pairs with the collector's store of stopping, then its load of curg or sigkickable:
     * either it saw this M's G (and signals it) or this load sees the stop. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    while ((ep = gr_load(&stopping)) != 0)
        gr_sys_futex_wait(gr_atomic_word(&stopping), ep, -1);
}

bool
gr_gc_stop_signal(void *uc)
{
    struct m *mp = gr_getm();
    uint32_t ep = gr_load(&mp->gcstop);

    if (ep == 0 || (ep & STOP_ACKED) != 0)
        return false;
    /* Published before the acknowledgment, which the collector reads (acquire) first. */
    gr_store_relaxed(&mp->gcuc, uc);
    /* Acknowledged for this epoch only: a collector that gave up took the request back
     * (set 0), and then this fails. */
    if (!gr_cas(&mp->gcstop, &ep, ep | STOP_ACKED))
        return false;
    gr_xadd(&nstopped, 1);
    gr_sys_futex_wake(gr_atomic_word(&nstopped), 1);
    while (gr_load_acquire(&stopping) == ep)
        gr_sys_futex_wait(gr_atomic_word(&stopping), ep, -1);
    return true;
}

/* The stop signal: SIGURG with SI_QUEUE and the collection's value, so the preemption handler
 * never takes it for sysmon's or the program's. */
static void
send_stop(const struct m *mp)
{
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    si.si_signo = SIGURG;
    si.si_code = SI_QUEUE;
    si.si_pid = gr_sys_getpid();
    si.si_value.sival_int = GR_GC_STOP_VALUE;
    gr_syscall4(SYS_rt_tgsigqueueinfo, si.si_pid, mp->tid, SIGURG, &si);
}

/*
 * Stop every M running a G, but the caller's: an M on g0 waits before it runs one (execute),
 * an M whose G is in syscall mode waits when the call returns (gr_exitsyscall); the others
 * get the stop signal and wait in its handler, their context published. False when one does
 * not stop in time (it blocks SIGURG, or sleeps in a call no hook saw with it blocked): the
 * world runs again and the collection is given up. Requires: the allocator's locks and the
 * allg lock held, every signal blocked.
 */
static bool
stop_world(struct m *self)
{
    int64_t deadline, resend;

    epoch = (epoch + 1) & ~STOP_ACKED;
    if (epoch == 0)
        epoch = 1;
    nasked = 0;
    gr_store(&nstopped, 0);
    /* Pairs with the fence in gr_gc_safepoint (above). */
    gr_store(&stopping, epoch);
    for (struct m *mp = gr_load_acquire(&gr_sched.allm); mp != NULL; mp = mp->alllink) {
        struct g *gp = gr_load(&mp->curg);
        if (mp == self || gp == NULL || mp->tid == 0 || gr_load(&gp->sigkickable) != 0)
            continue;
        if (nasked == MAX_ASKED)
            break; /* times out below */
        gr_store(&mp->gcstop, epoch);
        asked[nasked++] = mp;
        send_stop(mp);
    }
    deadline = gr_nanotime() + STOP_TIMEOUT_NS;
    resend = gr_nanotime() + STOP_RESEND_NS;
    for (;;) {
        uint32_t n = gr_load_acquire(&nstopped);
        int acked = 0;
        int64_t now;
        /* Pairs with the handler's CAS: its context is published. */
        for (int i = 0; i < nasked; i++)
            if (gr_load_acquire(&asked[i]->gcstop) == (epoch | STOP_ACKED))
                acked++;
        if (acked == nasked)
            return true;
        gr_sys_futex_wait(gr_atomic_word(&nstopped), n, resend);
        now = gr_nanotime();
        if (now >= deadline)
            break;
        if (now >= resend) {
            /* A standard signal pending already swallows another: send again. */
            for (int i = 0; i < nasked; i++)
                if (gr_load(&asked[i]->gcstop) == epoch)
                    send_stop(asked[i]);
            resend = now + STOP_RESEND_NS;
        }
    }
    return false;
}

/* Take back every request (one not acknowledged yet, from a stop given up, included), then
 * let everyone go. */
static void
start_world(void)
{
    for (int i = 0; i < nasked; i++)
        gr_store(&asked[i]->gcstop, 0);
    gr_store_release(&stopping, 0);
    gr_sys_futex_wake(gr_atomic_word(&stopping), INT32_MAX);
}

/* The M gp runs on, when the stop signal stopped it; NULL otherwise. */
static struct m *
stopped_m(const struct g *gp)
{
    for (int i = 0; i < nasked; i++)
        if (gr_load_relaxed(&asked[i]->curg) == gp)
            return asked[i];
    return NULL;
}

/* Where the stop signal found an M: its registers (and the vector registers, where the
 * compiler may keep a pointer while it copies); and its G's stack from the interrupted stack
 * pointer, when that lies on it. The G's other roots are scan_g's. */
static void
scan_stopped(struct g *gp, struct m *mp)
{
    const ucontext_t *uc = gr_load_relaxed(&mp->gcuc);
    uintptr_t sp;

    scan_range((uintptr_t)uc, (uintptr_t)(uc + 1));
    if (uc->uc_mcontext.fpregs != NULL)
        scan_range((uintptr_t)uc->uc_mcontext.fpregs,
                   (uintptr_t)uc->uc_mcontext.fpregs + sizeof(*uc->uc_mcontext.fpregs));
    sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP] - RED_ZONE;
    if (gr_load_relaxed(&gp->status) == G_RUNNING && sp >= (uintptr_t)gp->stack_lo &&
        sp < (uintptr_t)gp->stack_hi) {
        scan_range((uintptr_t)gp, (uintptr_t)(gp + 1));
        scan_tls(gp->tp);
        scan_stack(gp, sp);
    } else {
        scan_g(gp, NULL);
    }
}

/* What the sweep found: the dead objects linked through their first word, and the heap's
 * bytes in use before and after. */
struct sweep {
    uintptr_t dead;
    uint64_t nfreed, freed, heap;
};

/* Whether an object nothing reached may be freed: it was recorded (an object allocated
 * before GREENRUN_GC took effect has no record), and not where no root is known, nor by
 * the unwinder (its memory hangs from places no root covers). */
static bool
freeable(uint32_t site, uint64_t size)
{
    return size != 0 && site != GC_SITE_KEEP && site != GC_SITE_RUNTIME;
}

static void
sweep_span(struct gr_span *s, void *arg)
{
    struct sweep *sw = arg;
    int state = gr_load_relaxed(&s->state);

    if (state == SPAN_SMALL && s->gc_bits != NULL) {
        const struct gr_gc_slots *t = gr_load_relaxed(&s->gc_slots);
        uint32_t nobj = (uint32_t)((s->limit - s->base) / s->size);
        for (uint32_t i = 0; i < nobj; i++) {
            uint64_t bit = (uint64_t)1 << (i & 63);
            if ((live_bits(s)[i >> 6] & bit) == 0)
                continue;
            sw->heap += s->size;
            if ((mark_bits(s)[i >> 6] & bit) != 0 || t == NULL || i >= t->cap ||
                !freeable(t->slot[i].site, t->slot[i].size))
                continue;
            uintptr_t o = s->base + (uintptr_t)i * s->size;
            *(uintptr_t *)o = sw->dead;
            sw->dead = o;
            sw->nfreed++;
            sw->freed += s->size;
        }
        s->gc_bits = NULL;
    } else if (state == SPAN_LARGE || state == SPAN_HUGE) {
        uint64_t bytes = s->npages * GR_HEAP_PAGE;
        sw->heap += bytes;
        if (!s->gc_mark && freeable(s->gc_site, s->gc_size)) {
            *(uintptr_t *)s->base = sw->dead;
            sw->dead = s->base;
            sw->nfreed++;
            sw->freed += bytes;
        }
        s->gc_mark = false;
    } else {
        s->gc_bits = NULL;
    }
}

/* A snapshot given up: nothing is freed. */
static void
forget_span(struct gr_span *s, void *arg)
{
    (void)arg;
    s->gc_bits = NULL;
    s->gc_mark = false;
}

static void
collect_fail(const char *why)
{
    uint64_t t = gr_load_relaxed(&trigger);

    /* Try again after twice as much allocation: a G that keeps SIGURG blocked would
     * otherwise hold the world for the stop's timeout at every trigger. */
    gr_store_relaxed(&alloc_bytes, 0);
    gr_store_relaxed(&trigger, t > UINT64_MAX / 2 ? UINT64_MAX : 2 * t);
    if (gctrace)
        gr_print("greenrun: gc %lu: not run: %s\n", (unsigned long)ncollections + 1, why);
}

/* ns in units of unit_ns (a million: milliseconds), with three decimals, for gctrace (gr_print
 * has no field widths). */
static void
frac_str(char *buf, size_t cap, int64_t ns, int64_t unit_ns)
{
    uint64_t v = ns < 0 ? 0 : (uint64_t)ns, thousandths = v / (uint64_t)(unit_ns / 1000) % 1000;

    gr_snprint(buf, cap, "%lu.%c%c%c", (unsigned long)(v / (uint64_t)unit_ns),
               (char)('0' + thousandths / 100), (char)('0' + thousandths / 10 % 10),
               (char)('0' + thousandths % 10));
}

/*
 * One collection, on the calling G (gr_gc_poll): the roots the world running may give
 * (segments, loader memory, the kernel's values), then the stop (the allg lock, the
 * allocator's locks, every other M running a G stopped: stop_world), the snapshot of the
 * objects in use, the mark from every root (the exit check's, and the stopped Ms'
 * registers), the sweep, which only links the dead objects, and the restart. The dead are
 * freed with the world running: nothing reaches them, so nothing else touches them.
 */
static void
collect(struct g *self, const void *caller)
{
    static char procbuf[65536];
    uint64_t all = ~(uint64_t)0, oldmask, live, goal;
    int64_t t0 = gr_nanotime(), t1, t2, t3, t4, t5;
    struct sweep sw = { 0, 0, 0, 0 };
    size_t nlive = 0;
    char at[32], pause[32], stop[32], mark[32], sweep[32], freeing[32];
    bool stopped;

    arena_release();
    nsegs = 0;
    nkroots = 0;
    nmark = 0;
    segs = arena_alloc(GC_MAX_SEGS * sizeof(*segs));
    kroots = arena_alloc(GC_MAX_KROOTS * sizeof(*kroots));
    asked = arena_alloc(MAX_ASKED * sizeof(*asked));
    if (segs == NULL || kroots == NULL || asked == NULL) {
        collect_fail("no memory");
        return;
    }
    gr_real.dl_iterate_phdr(collect_segment, NULL);
    collect_loader_memory();
    collect_kernel_roots(procbuf, sizeof(procbuf));

    gr_sys_sigprocmask(SIG_SETMASK, &all, &oldmask);
    gr_lock(&gr_sched.glock);
    gr_malloc_world_stop();
    t1 = gr_nanotime();
    stopped = stop_world(gr_getm());
    t2 = gr_nanotime();
    if (stopped) {
        gr_store_relaxed(&alloc_bytes, 0);
        gr_heap_each_span(snap_span, &nlive);
        markcap = nlive;
        markstack = arena_alloc((nlive + 1) * sizeof(uintptr_t));
    }
    if (!stopped || markstack == NULL) {
        gr_heap_each_span(forget_span, NULL);
        start_world();
        gr_malloc_world_start();
        gr_unlock(&gr_sched.glock);
        gr_sys_sigprocmask(SIG_SETMASK, &oldmask, NULL);
        collect_fail(stopped ? "no memory" : "an M did not stop (SIGURG blocked?)");
        return;
    }
    for (int i = 0; i < nsegs; i++) {
        scan_range(segs[i].lo, segs[i].hi);
        drain();
    }
    for (int i = 0; i < nkroots; i++)
        mark_word(kroots[i]);
    drain();
    for (struct g *gp = gr_sched.allg; gp != NULL; gp = gp->allnext) {
        struct m *mp = gp == self ? NULL : stopped_m(gp);
        if (mp != NULL)
            scan_stopped(gp, mp);
        else
            scan_g(gp, self);
        drain();
    }
    for (struct m *mp = gr_load_acquire(&gr_sched.allm); mp != NULL; mp = mp->alllink) {
        scan_m(mp);
        drain();
    }
    t3 = gr_nanotime();
    /* Sweep: link what nothing reached; every object is marked only now, so none is. */
    gr_heap_each_span(sweep_span, &sw);
    start_world();
    gr_malloc_world_start();
    gr_unlock(&gr_sched.glock);
    gr_sys_sigprocmask(SIG_SETMASK, &oldmask, NULL);
    t4 = gr_nanotime();

    for (uintptr_t o = sw.dead, next; o != 0; o = next) {
        next = *(const uintptr_t *)o;
        gr_free((void *)o, (void *)(uintptr_t)caller);
    }
    arena_release();
    t5 = gr_nanotime();

    /* The pacer: the next collection when the heap has grown by gc_percent over what this
     * one left, and not before GC_MIN_HEAP in all. */
    live = sw.heap - sw.freed;
    goal = live + live / 100 * (uint64_t)gc_percent;
    if (goal < GC_MIN_HEAP)
        goal = GC_MIN_HEAP;
    gr_store_relaxed(&trigger, goal - live);
    ncollections++;
    if (!gctrace)
        return;
    frac_str(at, sizeof(at), t0 - gc_start_ns, 1000000000);
    frac_str(pause, sizeof(pause), t4 - t1, 1000000);
    frac_str(stop, sizeof(stop), t2 - t1, 1000000);
    frac_str(mark, sizeof(mark), t3 - t2, 1000000);
    frac_str(sweep, sizeof(sweep), t4 - t3, 1000000);
    frac_str(freeing, sizeof(freeing), t5 - t4, 1000000);
    gr_print("greenrun: gc %lu @%ss: %lu->%lu MB, %lu MB goal, %lu objects freed "
             "(%lu MB), %lu live; pause %s ms (stop %s, mark %s, sweep %s), free %s ms, "
             "%d Ms stopped\n",
             (unsigned long)ncollections, at, (unsigned long)(sw.heap >> 20),
             (unsigned long)(live >> 20), (unsigned long)(goal >> 20), (unsigned long)sw.nfreed,
             (unsigned long)(sw.freed >> 20), (unsigned long)(nlive - sw.nfreed), pause, stop, mark,
             sweep, freeing, nasked);
}

/* ld.so's code: gr_gc_pacer finds it (immutable after). */
static uintptr_t ldso_lo, ldso_hi;

static int
find_ldso(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    if (info->dlpi_name == NULL || strstr(info->dlpi_name, "ld-linux") == NULL)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) != 0) {
            ldso_lo = info->dlpi_addr + ph->p_vaddr;
            ldso_hi = ldso_lo + ph->p_memsz;
        }
    }
    return 1;
}

/* Keep p for good: no collection frees it (the program's free still does). */
static void
keep(void *p)
{
    struct gr_span *s = gr_heap_span_of((uintptr_t)p);

    if (s == NULL)
        return;
    if (gr_load_relaxed(&s->state) == SPAN_SMALL) {
        struct gr_gc_slot *sl = slot_of(s, (uintptr_t)p);
        if (sl != NULL)
            sl->site = GC_SITE_KEEP;
    } else {
        s->gc_site = GC_SITE_KEEP;
    }
}

void
gr_gc_poll(void *p, const void *caller)
{
    struct g *gp;
    struct m *mp;
    uint32_t zero = 0;

    if (!gr_gc_collect || p == NULL)
        return;
    if ((uintptr_t)caller >= ldso_lo && (uintptr_t)caller < ldso_hi)
        keep(p);
    if (gr_load_relaxed(&alloc_bytes) < gr_load_relaxed(&trigger))
        return;
    /* Only where a stop is safe: a G on a P, running the program's code (no runtime lock
     * held, no handler interrupted), called by neither libc nor ld.so (their locks), and no
     * thread inside dl_iterate_phdr (the collection takes ld.so's lock for the segments). */
    gp = gr_current();
    if (gp == NULL || gp->inhandler != 0 || gp->gc_recording != 0 ||
        gr_load_relaxed(&gp->status) != G_RUNNING)
        return;
    mp = gr_getm();
    if (mp->p == NULL || mp->mallocing || gr_preempt_pc_in_system((uintptr_t)caller) ||
        gr_preempt_pc_in_runtime((uintptr_t)caller))
        return;
    if (gr_load(&gr_state) != GR_STATE_RUNNING || gr_load(&program_iterating) != 0)
        return;
    if (!gr_cas(&collecting, &zero, 1))
        return;
    collect(gp, caller);
    gr_store_release(&collecting, 0);
}
