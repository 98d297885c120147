/*
 * runtime/tls.c: per-G TLS blocks and thread descriptors.
 *
 * glibc's code reads many fields of the running thread's descriptor (struct pthread at the
 * thread pointer). A G's block is therefore completed as nptl's start_thread completes a new
 * thread's (../shared/reference/glibc-2.36-facts.md, section 1, has the field table and the
 * evidence for each entry):
 *   tcb and self pointers, multiple_threads = 1, stack and pointer guards, a self-linked
 *   list, a unique fake tid (owner id of glibc's and ld.so's recursive locks), an empty
 *   robust list, user_stack = 1 and the stack bounds, specific[0] = specific_1stblock,
 *   __resp = &desc->res, rseq cpu_id = -2, and the runtime's own gr_curg.
 * Offsets come from glibc's _thread_db_* descriptors and from probes run once at boot on a
 * real thread whose stack we supplied, never from constants, except the tcbhead ABI fields
 * (0x0 tcb, 0x10 self, 0x18 multiple_threads, 0x28/0x30 guards, 0x48 feature_1).
 *
 * Locks: modules_lock (rank leaf): the static-TLS modules already copied; gr_sched.glock
 * to walk every G when one is.
 */
#include "runtime/tls.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <resolv.h>
#undef p_type /* resolv.h renames it; we need ELF's p_type below */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "runtime/arch.h"
#include "runtime/atomic.h"
#include "runtime/boot.h"
#include "runtime/debug.h"
#include "runtime/libc.h"
#include "runtime/proc.h"
#include "runtime/sched.h"
#include "runtime/signal.h"
#include "runtime/sys.h"

#define TCB_OFF_TCB         0x00
#define TCB_OFF_DTV         0x08
#define TCB_OFF_SELF        0x10
#define TCB_OFF_MULTITHREAD 0x18
#define TCB_OFF_STACK_GUARD 0x28
#define TCB_OFF_PTR_GUARD   0x30
#define TCB_OFF_FEATURE_1   0x48

#define KEY_2ND_SIZE    32 /* PTHREAD_KEY_2NDLEVEL_SIZE */
#define KEY_1ST_SIZE    32 /* PTHREAD_KEY_1STLEVEL_SIZE */
#define DTOR_ITERATIONS 4  /* PTHREAD_DESTRUCTOR_ITERATIONS */

struct gr_tls_layout gr_tls;

struct key_data { /* glibc's struct pthread_key_data */
    uintptr_t seq;
    void *data;
};

struct key_struct { /* glibc's struct pthread_key_struct */
    uintptr_t seq;
    void (*destr)(void *);
};

struct robust_head { /* the kernel's struct robust_list_head */
    void *list;
    long futex_offset;
    void *list_op_pending;
};

static void *(*dl_allocate_tls)(void *mem);
static void (*dl_deallocate_tls)(void *tcb, bool dealloc_tcb);
static void (*ctype_init)(void);
static void (*call_tls_dtors)(void);
static struct key_struct *pthread_keys;
static uintptr_t stack_guard;
static uintptr_t pointer_guard;

static int
db_offset(const char *name, size_t *out)
{
    const uint32_t *d = dlvsym(RTLD_DEFAULT, name, "GLIBC_PRIVATE");

    if (d == NULL)
        return -1;
    *out = d[2]; /* {bit size, count, byte offset} */
    return 0;
}

/* What the probe thread reports about its own descriptor. */
struct probe {
    long malloc_off[2]; /* glibc malloc's per-thread words (thread_arena, tcache) */
    int nmalloc;
    void *buf;
    size_t len;
    uintptr_t self;
    size_t off_stackblock;
    size_t user_stack_byte;
    uintptr_t res;
    bool ok;
};

/*
 * The PT_TLS segment of one loaded object, found by name (a substring of its path) or, when
 * name is NULL, by load address: its initialisation image and sizes, and the calling
 * thread's block of it (dl_iterate_phdr's dlpi_tls_data; NULL when it has none yet).
 */
struct tls_image {
    const char *name;
    uintptr_t addr;
    const void *init;
    size_t filesz;
    size_t memsz;
    void *block;
    bool found;
};

static int
tls_image_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct tls_image *img = arg;

    (void)size;
    if (img->name != NULL ? info->dlpi_name == NULL || strstr(info->dlpi_name, img->name) == NULL :
                            info->dlpi_addr != img->addr)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_TLS) {
            img->init = (const void *)(info->dlpi_addr + ph->p_vaddr);
            img->filesz = ph->p_filesz;
            img->memsz = ph->p_memsz;
            img->block = info->dlpi_tls_data;
            img->found = true;
            return 1;
        }
    }
    return 0;
}

static bool
tls_image_find(struct tls_image *img)
{
    img->found = false;
    gr_real.dl_iterate_phdr(tls_image_cb, img);
    return img->found;
}

/*
 * Find glibc malloc's per-thread words (its arena and tcache pointers) in a fresh thread:
 * the words of libc's TLS that a first malloc turns from zero to non-zero. A G's block is
 * zeroed when its stack is reused; carrying these two words over hands the next G the
 * dead one's tcache and arena, as a reused thread has them, instead of leaking them. Only
 * with GREENRUN_MALLOC=system: greenrun's own allocator keeps nothing per thread.
 */
static void
probe_malloc_words(struct probe *pr, uintptr_t self)
{
    struct tls_image libc_img = { .name = "libc.so" };
    uintptr_t before[512], addr;
    size_t n;
    void *p;

    if (!gr_malloc_system || !tls_image_find(&libc_img) || libc_img.block == NULL)
        return;
    addr = (uintptr_t)libc_img.block;
    n = libc_img.memsz / sizeof(uintptr_t);
    if (n == 0 || n > GR_ARRAY_LEN(before))
        return;
    memcpy(before, (void *)addr, n * sizeof(uintptr_t));
    p = gr_real.malloc(24);
    __asm__ volatile("" : : "r"(p) : "memory"); /* the pair must not be optimised away */
    gr_real.free(p);
    for (size_t i = 0; i < n; i++) {
        uintptr_t now = ((uintptr_t *)addr)[i];
        if (before[i] == 0 && now != 0) {
            if (pr->nmalloc == 2) {
                pr->nmalloc = -1; /* not the two words expected: leave it alone */
                return;
            }
            pr->malloc_off[pr->nmalloc++] = (long)(addr + i * sizeof(uintptr_t) - self);
        }
    }
}

static void *
probe_main(void *arg)
{
    struct probe *pr = arg;
    uintptr_t self = gr_get_tp();

    pr->self = self;
    for (size_t off = 0x100; off + 16 <= gr_tls.desc_size; off += 8) {
        if (*(uintptr_t *)(self + off) == (uintptr_t)pr->buf &&
            *(size_t *)(self + off + 8) == pr->len) {
            pr->off_stackblock = off;
            pr->ok = true;
            break;
        }
    }
    pr->user_stack_byte = *(unsigned char *)(self + gr_tls.off_user_stack);
    pr->res = (uintptr_t)__res_state();
    probe_malloc_words(pr, self);
    return NULL;
}

static int
probe_thread(void)
{
    pthread_attr_t attr;
    pthread_t t;
    struct probe pr = { 0 };
    size_t len = 256 * 1024;
    int err;

    pr.buf = gr_sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if ((uintptr_t)pr.buf >= (uintptr_t)-4095)
        return -1;
    pr.len = len;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, pr.buf, len);
    err = gr_real.pthread_create(&t, &attr, probe_main, &pr);
    pthread_attr_destroy(&attr);
    if (err != 0)
        return -1;
    gr_real.pthread_join(t, NULL);
    gr_sys_munmap(pr.buf, len);
    if (!pr.ok || pr.user_stack_byte != 1)
        return -1;
    gr_tls.off_stackblock = pr.off_stackblock;
    if (pr.nmalloc == 2) {
        gr_tls.malloc_off[0] = pr.malloc_off[0];
        gr_tls.malloc_off[1] = pr.malloc_off[1];
        gr_tls.nmalloc = 2;
    }
    gr_tls.off_res = pr.res - pr.self;
    if (gr_tls.off_res >= gr_tls.desc_size)
        return -1;
    return 0;
}

/* Modules whose static TLS is already in every block (noted at boot, or spread since). */
#define MAX_STATIC_MODULES 256

static uintptr_t static_modules[MAX_STATIC_MODULES]; /* protected by modules_lock */
static int nstatic_modules;
static struct gr_mutex modules_lock = GR_MUTEX_INIT(GR_RANK_LEAF);

/* True the first time lm (a link_map address) is seen; modules present at boot are noted. */
static bool
note_static_module(uintptr_t lm)
{
    bool fresh = true;

    gr_lock(&modules_lock);
    for (int i = 0; i < nstatic_modules; i++)
        if (static_modules[i] == lm)
            fresh = false;
    if (fresh && nstatic_modules < MAX_STATIC_MODULES)
        static_modules[nstatic_modules++] = lm;
    gr_unlock(&modules_lock);
    return fresh;
}

static void
note_boot_modules(void)
{
    struct link_map *lm = NULL;
    void *self = gr_real.dlopen(NULL, RTLD_NOW | RTLD_NOLOAD);

    if (self == NULL || dlinfo(self, RTLD_DI_LINKMAP, &lm) != 0)
        return;
    for (; lm != NULL; lm = lm->l_next)
        note_static_module((uintptr_t)lm);
}

/* Copy a module's TLS image into every live G's block, at tp - offset. */
static void
copy_static_image(size_t offset, const void *init, size_t filesz, size_t memsz)
{
    gr_lock(&gr_sched.glock);
    for (struct g *gp = gr_sched.allg; gp != NULL; gp = gp->allnext) {
        char *dest = (char *)(gp->tp - offset);
        if (gp->is_main || gr_load(&gp->status) == G_DEAD)
            continue; /* glibc lists the initial thread itself */
        memcpy(dest, init, filesz);
        memset(dest + filesz, 0, memsz - filesz);
    }
    gr_unlock(&gr_sched.glock);
}

void
gr_tls_spread_static(void *handle)
{
    struct link_map *lm = NULL;

    if (gr_tls.off_l_tls_offset == 0 || dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0)
        return;
    for (; lm != NULL; lm = lm->l_next) {
        ptrdiff_t off = *(ptrdiff_t *)((char *)lm + gr_tls.off_l_tls_offset);
        struct tls_image img = { .addr = lm->l_addr };

        /* 0: no static TLS (yet); -1: forced dynamic. Anything else is a static slot. */
        if (off == 0 || off == -1)
            continue;
        if (!note_static_module((uintptr_t)lm))
            continue; /* already spread (or there before boot) */
        if (tls_image_find(&img))
            copy_static_image((size_t)off, img.init, img.filesz, img.memsz);
    }
}

int
gr_tls_probe(void)
{
    void (*static_info)(size_t *, size_t *);
    const uint32_t *sizeof_pthread;
    size_t report_events;
    uintptr_t tp = gr_get_tp();
    void *resp, *head = NULL;
    size_t headlen;
    const long *rseq_offset;
    const unsigned *rseq_size;

    static_info = dlvsym(RTLD_DEFAULT, "_dl_get_tls_static_info", "GLIBC_PRIVATE");
    dl_allocate_tls = dlvsym(RTLD_DEFAULT, "_dl_allocate_tls", "GLIBC_PRIVATE");
    dl_deallocate_tls = dlvsym(RTLD_DEFAULT, "_dl_deallocate_tls", "GLIBC_PRIVATE");
    ctype_init = dlvsym(RTLD_DEFAULT, "__ctype_init", "GLIBC_PRIVATE");
    call_tls_dtors = dlvsym(RTLD_DEFAULT, "__call_tls_dtors", "GLIBC_PRIVATE");
    pthread_keys = dlvsym(RTLD_DEFAULT, "__pthread_keys", "GLIBC_PRIVATE");
    sizeof_pthread = dlvsym(RTLD_DEFAULT, "_thread_db_sizeof_pthread", "GLIBC_PRIVATE");
    resp = dlvsym(RTLD_DEFAULT, "__resp", "GLIBC_PRIVATE");
    if (static_info == NULL || dl_allocate_tls == NULL || dl_deallocate_tls == NULL ||
        ctype_init == NULL || call_tls_dtors == NULL || pthread_keys == NULL ||
        sizeof_pthread == NULL || resp == NULL)
        return -1;
    static_info(&gr_tls.static_size, &gr_tls.static_align);
    gr_tls.desc_size = *sizeof_pthread;
    if (db_offset("_thread_db_pthread_tid", &gr_tls.off_tid) != 0 ||
        db_offset("_thread_db_pthread_list", &gr_tls.off_list) != 0 ||
        db_offset("_thread_db_pthread_cancelhandling", &gr_tls.off_cancelhandling) != 0 ||
        db_offset("_thread_db_pthread_specific", &gr_tls.off_specific) != 0 ||
        db_offset("_thread_db_pthread_report_events", &report_events) != 0)
        return -1;
    gr_tls.off_user_stack = report_events + 1;

    /* CET (feature_1 != 0) would need shadow stacks per G: refuse. */
    if (*(uint32_t *)(tp + TCB_OFF_FEATURE_1) != 0)
        return -1;
    stack_guard = *(uintptr_t *)(tp + TCB_OFF_STACK_GUARD);
    pointer_guard = *(uintptr_t *)(tp + TCB_OFF_PTR_GUARD);

    /* specific[0] of the initial thread points at its specific_1stblock, just before. */
    if (*(uintptr_t *)(tp + gr_tls.off_specific) !=
        tp + gr_tls.off_specific - KEY_2ND_SIZE * sizeof(struct key_data))
        return -1;

    if (gr_syscall3(SYS_get_robust_list, 0, &head, &headlen) != 0 || head == NULL)
        return -1;
    gr_tls.off_robust_head = (uintptr_t)head - tp;
    gr_tls.robust_futex_offset = ((struct robust_head *)head)->futex_offset;
    if (gr_tls.off_robust_head >= gr_tls.desc_size)
        return -1;

    gr_tls.resp_off = (long)((uintptr_t)resp - tp);
    gr_tls.curg_off = (long)((uintptr_t)&gr_curg - tp);
    gr_tls.errno_off = (long)((uintptr_t)&errno - tp);

    if (db_offset("_thread_db_link_map_l_tls_offset", &gr_tls.off_l_tls_offset) != 0)
        gr_tls.off_l_tls_offset = 0;
    note_boot_modules();

    rseq_offset = dlsym(RTLD_DEFAULT, "__rseq_offset");
    rseq_size = dlsym(RTLD_DEFAULT, "__rseq_size");
    gr_tls.rseq_cpu_off =
        (rseq_offset != NULL && rseq_size != NULL && *rseq_size != 0) ? *rseq_offset + 4 : 0;

    return probe_thread();
}

size_t
gr_tls_block_size(void)
{
    return gr_round_up(gr_tls.static_size + gr_tls.static_align, 64);
}

/*
 * Move the DTV glibc just allocated for tp into gp's own pages: a blocked thread then costs
 * the pages at the top of its stack and nothing on the heap. Not under GREENRUN_MALLOC=system,
 * whose realloc is glibc's (only greenrun's knows the array, gr_tls_dtv_embedded), and not
 * when the process has too many TLS modules for the space.
 */
static void
dtv_embed(uintptr_t tp, struct g *gp)
{
    struct gr_dtv_slot *dtv = *(struct gr_dtv_slot **)(tp + TCB_OFF_DTV) - 1;
    uintptr_t n = dtv[0].val + 2;

    if (gr_malloc_system || n > GR_DTV_EMBED)
        return;
    memcpy(gp->dtv, dtv, n * sizeof(*dtv));
    *(struct gr_dtv_slot **)(tp + TCB_OFF_DTV) = gp->dtv + 1;
    gr_free(dtv, __builtin_return_address(0));
}

uintptr_t
gr_tls_create(void *top, struct g *gp, int32_t tid, void *stack_lo, size_t stack_size, size_t guard)
{
    uintptr_t tp = gr_round_down((uintptr_t)top - gr_tls.desc_size, gr_tls.static_align);
    uintptr_t list = tp + gr_tls.off_list;
    struct robust_head *rh = (struct robust_head *)(tp + gr_tls.off_robust_head);
    uintptr_t *stackblock = (uintptr_t *)(tp + gr_tls.off_stackblock);

    if (dl_allocate_tls((void *)tp) == NULL)
        return 0;
    *(uintptr_t *)(tp + TCB_OFF_TCB) = tp;
    *(uintptr_t *)(tp + TCB_OFF_SELF) = tp;
    *(int *)(tp + TCB_OFF_MULTITHREAD) = 1;
    *(uintptr_t *)(tp + TCB_OFF_STACK_GUARD) = stack_guard;
    *(uintptr_t *)(tp + TCB_OFF_PTR_GUARD) = pointer_guard;
    ((uintptr_t *)list)[0] = list;
    ((uintptr_t *)list)[1] = list;
    *(int32_t *)(tp + gr_tls.off_tid) = tid;
    rh->list = rh;
    rh->futex_offset = gr_tls.robust_futex_offset;
    rh->list_op_pending = NULL;
    *(void **)((uintptr_t)rh - sizeof(void *)) = rh; /* robust_prev */
    *(unsigned char *)(tp + gr_tls.off_user_stack) = 1;
    stackblock[0] = (uintptr_t)stack_lo - guard;
    stackblock[1] = ((uintptr_t)top - ((uintptr_t)stack_lo - guard));
    stackblock[2] = guard;
    (void)stack_size;
    *(uintptr_t *)(tp + gr_tls.off_specific) =
        tp + gr_tls.off_specific - KEY_2ND_SIZE * sizeof(struct key_data);
    *(uintptr_t *)(tp + gr_tls.resp_off) = tp + gr_tls.off_res;
    if (gr_tls.rseq_cpu_off != 0)
        *(int32_t *)(tp + gr_tls.rseq_cpu_off) = -2; /* RSEQ_CPU_ID_REGISTRATION_FAILED */
    *(struct g **)(tp + gr_tls.curg_off) = gp;
    dtv_embed(tp, gp);
    return tp;
}

void
gr_tls_destroy(uintptr_t tp)
{
    struct g *gp = *(struct g **)(tp + gr_tls.curg_off);
    struct gr_dtv_slot *dtv = *(struct gr_dtv_slot **)(tp + TCB_OFF_DTV);

    if (dtv != gp->dtv + 1) {
        dl_deallocate_tls((void *)tp, false);
        return;
    }
    /* What _dl_deallocate_tls does, but for freeing the array: the G's own. The blocks came
     * from greenrun's allocator, as the array did (dtv_embed). */
    for (uintptr_t i = 0; i < dtv[-1].val; i++)
        gr_free(dtv[1 + i].to_free, __builtin_return_address(0));
}

void
gr_tls_dtv_range(uintptr_t tp, uintptr_t *lo, uintptr_t *hi)
{
    struct gr_dtv_slot *dtv = *(struct gr_dtv_slot **)(tp + TCB_OFF_DTV);

    *lo = *hi = 0;
    if (dtv == NULL)
        return;
    *lo = (uintptr_t)(dtv - 1);
    *hi = (uintptr_t)(dtv + 1 + dtv[-1].val);
}

bool
gr_tls_dtv_embedded(const void *p)
{
    struct g *gp = gr_curg;

    return gp != NULL && p == gp->dtv;
}

void
gr_tls_on_start(void)
{
    ctype_init();
}

void
gr_tls_run_dtors(uintptr_t tp)
{
    struct key_data **specific = (struct key_data **)(tp + gr_tls.off_specific);
    bool again;
    int round = 0;

    call_tls_dtors();
    do {
        again = false;
        for (int i = 0; i < KEY_1ST_SIZE; i++) {
            struct key_data *level2 = specific[i];
            if (level2 == NULL)
                continue;
            for (int j = 0; j < KEY_2ND_SIZE; j++) {
                void *data = level2[j].data;
                size_t key = (size_t)i * KEY_2ND_SIZE + (size_t)j;
                if (data == NULL)
                    continue;
                level2[j].data = NULL;
                if (level2[j].seq == pthread_keys[key].seq && pthread_keys[key].destr != NULL) {
                    pthread_keys[key].destr(data);
                    again = true;
                }
            }
        }
    } while (again && ++round < DTOR_ITERATIONS);
    /* glibc calloc'ed the second-level blocks; specific[0] is inside the descriptor. */
    for (int i = 1; i < KEY_1ST_SIZE; i++) {
        if (specific[i] != NULL) {
            gr_malloc_free_any(specific[i]);
            specific[i] = NULL;
        }
    }
}

int
gr_tls_self_id(void)
{
    if (gr_sched_booted())
        return *(int *)(gr_get_tp() + gr_tls.off_tid);
    return gr_sys_gettid();
}

/* ---- The M's own blocks, around glibc code that must see them rather than a G's. */

uintptr_t
gr_tls_enter_m(int which)
{
    struct m *mp = gr_getm();
    uintptr_t tp = gr_get_tp();
    uintptr_t to = which == GR_TLS_OWN ? mp->ownfs : mp->sysdesc;

    if (tp == to)
        return 0;
    if (gr_sys_set_fs(to) != 0)
        gr_throw("tls_enter_m: cannot install the M's TLS block");
    return tp;
}

int
gr_tls_leave_m(uintptr_t prev)
{
    int err;

    if (prev == 0)
        return 0;
    /* errno through its offset: __errno_location is const, and FS changes under it here. */
    err = *(int *)(gr_get_tp() + gr_tls.errno_off);
    if (gr_sys_set_fs(prev) != 0)
        gr_throw("tls_leave_m: cannot reinstall the TLS block");
    return err;
}

/* ---- setuid() with many Gs: glibc's SIGSETXID handler must see the M's own descriptor. */

static void (*glibc_setxid)(int, siginfo_t *, void *);

static void
setxid_wrapper(int sig, siginfo_t *si, void *uc)
{
    uintptr_t prev;

    /* A block without gr_curg is a real thread's own descriptor: nothing to switch. */
    if (gr_curg == NULL) {
        glibc_setxid(sig, si, uc);
        return;
    }
    prev = gr_tls_enter_m(GR_TLS_LISTED);
    glibc_setxid(sig, si, uc);
    gr_tls_leave_m(prev);
}

int
gr_tls_setxid_init(void)
{
    struct gr_ksigaction old, act;

    if (gr_sys_rt_sigaction(GR_SIGSETXID, NULL, &old) != 0)
        return -1;
    if (old.handler == NULL || old.handler == (void *)SIG_IGN)
        return 0; /* no handler yet: setxid needs none before a thread */
    glibc_setxid = (void (*)(int, siginfo_t *, void *))old.handler;
    act = old;
    act.handler = (void *)setxid_wrapper;
    return gr_sys_rt_sigaction(GR_SIGSETXID, &act, NULL);
}
