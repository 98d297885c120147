/*
 * runtime/unwind.c: backtraces with libunwind, loaded on first use (unwind.h says why it is
 * not linked), and their symbols.
 *
 * Locks: none of the runtime's. The first caller loads libunwind; callers that come while it
 * loads wait for it (state below), so the table of functions is written once.
 */
#include "runtime/unwind.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "runtime/api.h"
#include "runtime/atomic.h"
#include "runtime/debug.h"
#include "runtime/libc.h"
#include "runtime/sys.h"

/* The local-only entry points of libunwind.so.8 (UNW_LOCAL_ONLY's names for x86_64). */
struct unw {
    int (*getcontext)(unw_context_t *uc);
    int (*init_local2)(unw_cursor_t *c, unw_context_t *uc, int flag);
    int (*step)(unw_cursor_t *c);
    int (*get_reg)(unw_cursor_t *c, unw_regnum_t reg, unw_word_t *val);
    int (*set_reg)(unw_cursor_t *c, unw_regnum_t reg, unw_word_t val);
    int (*get_proc_name)(unw_cursor_t *c, char *buf, size_t len, unw_word_t *off);
    int (*backtrace)(void **pcs, int max);
};

enum { UNW_UNLOADED, UNW_LOADING, UNW_READY, UNW_MISSING };

static struct unw unw;                 /* written once, by the loader, before READY */
static struct gr_atomic_u32 unw_state; /* atomic: UNW_*; the loader's CAS claims the load */

static bool
load(void)
{
    uint32_t st = gr_load_acquire(&unw_state); /* pairs with the loader's store-release */
    void *h;

    if (st == UNW_READY)
        return true;
    if (st == UNW_UNLOADED && gr_cas(&unw_state, &st, UNW_LOADING)) {
        h = gr_real.dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
        if (h != NULL) {
            /* What the dlopen hook does for the program (hooks/dl.c); a no-op unless a
             * libunwind built with initial-exec TLS needs a slot in every G. */
            gr_tls_spread_static(h);
            unw.getcontext = (__typeof__(unw.getcontext))dlsym(h, "_Ux86_64_getcontext");
            unw.init_local2 = (__typeof__(unw.init_local2))dlsym(h, "_ULx86_64_init_local2");
            unw.step = (__typeof__(unw.step))dlsym(h, "_ULx86_64_step");
            unw.get_reg = (__typeof__(unw.get_reg))dlsym(h, "_ULx86_64_get_reg");
            unw.set_reg = (__typeof__(unw.set_reg))dlsym(h, "_ULx86_64_set_reg");
            unw.get_proc_name = (__typeof__(unw.get_proc_name))dlsym(h, "_ULx86_64_get_proc_name");
            unw.backtrace = (__typeof__(unw.backtrace))dlsym(h, "unw_backtrace");
        }
        st = h != NULL && unw.getcontext != NULL && unw.init_local2 != NULL && unw.step != NULL &&
                     unw.get_reg != NULL && unw.set_reg != NULL && unw.get_proc_name != NULL &&
                     unw.backtrace != NULL ?
                 UNW_READY :
                 UNW_MISSING;
        /* Pairs with the acquire loads above and below: the table comes with READY. */
        gr_store_release(&unw_state, st);
        return st == UNW_READY;
    }
    while ((st = gr_load_acquire(&unw_state)) == UNW_LOADING)
        gr_sys_sched_yield();
    return st == UNW_READY;
}

bool
gr_unwind_available(void)
{
    return load();
}

/* Name f from the cursor's frame: the symbol table first (static functions of a program
 * without -rdynamic have no dynamic symbol), then dladdr's dynamic symbols. */
static void
name_frame(unw_cursor_t *c, struct gr_frame *f)
{
    unw_word_t off = 0;
    Dl_info di;

    f->name[0] = '\0';
    f->off = 0;
    if (unw.get_proc_name(c, f->name, sizeof(f->name), &off) == 0 ||
        (f->name[0] != '\0' && f->name[sizeof(f->name) - 1] == '\0')) {
        f->off = off; /* UNW_ENOMEM: the name was cut, still worth showing */
        return;
    }
    f->name[0] = '\0';
    if (dladdr((void *)(f->pc - 1), &di) != 0 && di.dli_sname != NULL) {
        size_t n = strlen(di.dli_sname);
        if (n >= sizeof(f->name))
            n = sizeof(f->name) - 1;
        memcpy(f->name, di.dli_sname, n);
        f->name[n] = '\0';
        f->off = f->pc - (uintptr_t)di.dli_saddr;
    }
}

/* Name f through sc: a hit is copied; a miss is named, then kept if its slot is free. */
static void
name_cached(unw_cursor_t *c, struct gr_frame *f, struct gr_symcache *sc)
{
    size_t i;

    if (sc == NULL) {
        name_frame(c, f);
        return;
    }
    i = (f->pc * 0x9e3779b97f4a7c15ull >> 40) % GR_SYMCACHE_SLOTS;
    for (size_t probe = 0; probe < 8; probe++, i = (i + 1) % GR_SYMCACHE_SLOTS) {
        if (sc->slot[i].pc == f->pc) {
            f->off = sc->slot[i].off;
            memcpy(f->name, sc->slot[i].name, sizeof(f->name));
            return;
        }
        if (sc->slot[i].pc == 0)
            break;
    }
    name_frame(c, f);
    if (sc->slot[i].pc == 0) {
        sc->slot[i].pc = f->pc;
        sc->slot[i].off = f->off;
        memcpy(sc->slot[i].name, f->name, sizeof(f->name));
    }
}

/* Walk the cursor: frames while the stack pointer stays in [lo, hi) and never goes down. */
static int
walk(unw_cursor_t *c, uintptr_t lo, uintptr_t hi, struct gr_frame *f, uintptr_t *pcs, int max,
     int skip, struct gr_symcache *sc)
{
    uintptr_t prev_sp = 0;
    int n = 0;

    while (n < max) {
        unw_word_t pc = 0, sp = 0;

        if (unw.get_reg(c, UNW_REG_IP, &pc) != 0 || unw.get_reg(c, UNW_REG_SP, &sp) != 0 || pc == 0)
            break;
        if (sp < prev_sp || (hi != 0 && (sp < lo || sp >= hi)))
            break;
        prev_sp = sp;
        if (skip > 0) {
            skip--;
        } else if (pcs != NULL) {
            pcs[n++] = pc; /* no names: the caller wants the walk only */
        } else {
            f[n].pc = pc;
            name_cached(c, &f[n], sc);
            n++;
        }
        if (unw.step(c) <= 0)
            break;
    }
    return n;
}

int
gr_unwind(const struct gr_regs *r, uintptr_t lo, uintptr_t hi, struct gr_frame *f, int max,
          struct gr_symcache *sc)
{
    unw_context_t uc;
    unw_cursor_t c;

    if (!load())
        return -ENOSYS;
    if (r->pc == 0 || (hi != 0 && (r->sp < lo || r->sp >= hi)))
        return 0;
    /* libunwind's context on x86_64 is a ucontext_t; it reads only these general registers
     * (and, for a signal frame, nothing else of it: this is none). */
    memset(&uc, 0, sizeof(uc));
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)r->pc;
    uc.uc_mcontext.gregs[REG_RSP] = (greg_t)r->sp;
    uc.uc_mcontext.gregs[REG_RBP] = (greg_t)r->bp;
    uc.uc_mcontext.gregs[REG_RBX] = (greg_t)r->bx;
    uc.uc_mcontext.gregs[REG_R12] = (greg_t)r->r12;
    uc.uc_mcontext.gregs[REG_R13] = (greg_t)r->r13;
    uc.uc_mcontext.gregs[REG_R14] = (greg_t)r->r14;
    uc.uc_mcontext.gregs[REG_R15] = (greg_t)r->r15;
    /* Flag 0: the pc is a return address, so the call before it is what is looked up. */
    if (unw.init_local2(&c, &uc, 0) != 0)
        return 0;
    return walk(&c, lo, hi, f, NULL, max, 0, sc);
}

/* The calling thread's walk for the two entry points below, from their caller on: named
 * frames into f, or return addresses only into pcs. */
static __attribute__((always_inline)) inline int
walk_self(struct gr_frame *f, uintptr_t *pcs, int max, struct gr_symcache *sc)
{
    unw_context_t uc;
    unw_cursor_t c;

    if (!load())
        return -ENOSYS;
    if (unw.getcontext(&uc) != 0 || unw.init_local2(&c, &uc, 0) != 0)
        return 0;
    return walk(&c, 0, 0, f, pcs, max, 1, sc); /* not the entry point's own frame */
}

__attribute__((noinline)) int
gr_unwind_self(struct gr_frame *f, int max, struct gr_symcache *sc)
{
    return walk_self(f, NULL, max, sc);
}

__attribute__((noinline)) int
gr_unwind_self_pcs(uintptr_t *pcs, int max)
{
    return walk_self(NULL, pcs, max, NULL);
}

int
gr_unwind_backtrace(void **pcs, int max)
{
    if (!load())
        return -ENOSYS;
    return unw.backtrace(pcs, max);
}

/*
 * Step once from pc with the stack pointer at stk[0] and the frame pointer at stk[b], every
 * slot a distinct made-up value: true when libunwind finds the caller where a frame-pointer
 * frame puts it (return address at rbp + 8, caller's rbp at rbp, stack pointer rbp + 16).
 */
static bool
fp_trial(uintptr_t pc, uintptr_t *stk, int len, int b)
{
    unw_context_t uc;
    unw_cursor_t c;
    unw_word_t ip = 0, sp = 0, bp = 0;

    for (int i = 0; i < len; i++)
        stk[i] = 0x5a5a000000000000ull + (uintptr_t)i * 0x100 + (uintptr_t)b;
    memset(&uc, 0, sizeof(uc));
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
    uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(uintptr_t)&stk[0];
    uc.uc_mcontext.gregs[REG_RBP] = (greg_t)(uintptr_t)&stk[b];
    if (unw.init_local2(&c, &uc, 0) != 0 || unw.step(&c) <= 0 ||
        unw.get_reg(&c, UNW_REG_IP, &ip) != 0 || unw.get_reg(&c, UNW_REG_SP, &sp) != 0 ||
        unw.get_reg(&c, UNW_X86_64_RBP, &bp) != 0)
        return false;
    return ip == stk[b + 1] && sp == (uintptr_t)&stk[b + 2] && bp == stk[b];
}

int
gr_unwind_fp_frame(uintptr_t pc)
{
    uintptr_t stk[32];

    if (!load())
        return -ENOSYS;
    /* Two distances between the stack and frame pointers: a frame found from the stack
     * pointer cannot match both. */
    return fp_trial(pc, stk, 32, 4) && fp_trial(pc, stk, 32, 20);
}

void
gr_unwind_name_pc(uintptr_t pc, struct gr_frame *f, struct gr_symcache *sc)
{
    unw_context_t uc;
    unw_cursor_t c;

    /* pc is a return address: the call before it is named (pc - 1), the offset is pc's. */
    f->pc = pc - 1;
    if (load() && unw.getcontext(&uc) == 0 && unw.init_local2(&c, &uc, 0) == 0 &&
        unw.set_reg(&c, UNW_REG_IP, pc - 1) == 0) {
        name_cached(&c, f, sc);
    } else {
        f->name[0] = '\0';
        f->off = 0;
    }
    if (f->name[0] != '\0')
        f->off++;
    f->pc = pc;
}

void
gr_unwind_fork_child(void)
{
    uint32_t st = UNW_LOADING;

    gr_cas(&unw_state, &st, UNW_UNLOADED);
}

size_t
gr_unwind_format(const struct gr_frame *f, char *buf, size_t size)
{
    const char *obj = "?";
    Dl_info di;

    if (dladdr((void *)(f->pc - 1), &di) != 0 && di.dli_fname != NULL) {
        const char *slash = strrchr(di.dli_fname, '/');
        obj = slash != NULL ? slash + 1 : di.dli_fname;
        if (obj[0] == '\0')
            obj = "main program";
    }
    if (f->name[0] != '\0')
        return gr_snprint(buf, size, "%s+0x%lx (%s)", f->name, (unsigned long)f->off, obj);
    return gr_snprint(buf, size, "0x%lx (%s)", (unsigned long)f->pc, obj);
}
