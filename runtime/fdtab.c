/*
 * runtime/fdtab.c: the per-descriptor table and what it caches (see fdtab.h).
 *
 * Storage: 4096 chunk pointers, each chunk 256 zeroed entries from gr_mem_alloc, created on
 * first use and never freed, so an entry's address is stable for the life of the process
 * (epoll tokens name the descriptor number, waiters key on the entry's directions). Numbers
 * from 2^20 up have no entry: the hooks then make the call in syscall mode.
 *
 * A zeroed entry is a valid "nothing known" entry: generation 0, kind and O_NONBLOCK unknown,
 * not registered, timeouts unknown.
 *
 * Everything here uses raw system calls (fstat, fcntl, getsockopt): it runs inside hooks and
 * must neither call an interposed function nor touch errno.
 *
 * Locks: grow_lock (rank fdtab-grow) adds chunks; each entry's pd->lock (rank polldesc)
 * guards its registration, resets and O_NONBLOCK holds (fdtab.h).
 */
#include "runtime/fdtab.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include "runtime/arch.h"
#include "runtime/atomic.h"
#include "runtime/base.h"
#include "runtime/mem.h"

#define CHUNK_SHIFT 8
#define CHUNK_LEN   (1u << CHUNK_SHIFT)
#define NCHUNK      4096u

struct gr_atomic_u32 gr_fdtab_fork_epoch;

static GR_ATOMIC_PTR(struct polldesc) chunks[NCHUNK]; /* atomic: published with release */
static struct gr_mutex grow_lock = GR_MUTEX_INIT(GR_RANK_FDTAB_GROW);

struct polldesc *
gr_fdtab_peek(int fd)
{
    struct polldesc *c;

    if (fd < 0 || (unsigned)fd >= CHUNK_LEN * NCHUNK)
        return NULL;
    c = gr_load_acquire(&chunks[(unsigned)fd >> CHUNK_SHIFT]); /* pairs with grow */
    return c != NULL ? &c[(unsigned)fd & (CHUNK_LEN - 1)] : NULL;
}

struct polldesc *
gr_fdtab_get(int fd)
{
    struct polldesc *pd = gr_fdtab_peek(fd), *c;
    unsigned i;

    if (pd != NULL || fd < 0 || (unsigned)fd >= CHUNK_LEN * NCHUNK)
        return pd;
    i = (unsigned)fd >> CHUNK_SHIFT;
    gr_lock(&grow_lock);
    c = gr_load_relaxed(&chunks[i]);
    if (c == NULL) {
        c = gr_mem_alloc(CHUNK_LEN * sizeof(struct polldesc));
        if (c != NULL) {
            for (unsigned j = 0; j < CHUNK_LEN; j++)
                gr_lock_init(&c[j].lock, GR_RANK_POLLDESC);
            gr_store_release(&chunks[i], c); /* pairs with gr_fdtab_peek */
        }
    }
    gr_unlock(&grow_lock);
    return c != NULL ? &c[(unsigned)fd & (CHUNK_LEN - 1)] : NULL;
}

void
gr_fdtab_each(unsigned lo, unsigned hi, void (*fn)(int fd, struct polldesc *pd))
{
    if (hi >= CHUNK_LEN * NCHUNK)
        hi = CHUNK_LEN * NCHUNK - 1;
    for (unsigned ci = lo >> CHUNK_SHIFT; ci <= hi >> CHUNK_SHIFT; ci++) {
        struct polldesc *c = gr_load_acquire(&chunks[ci]);
        if (c == NULL)
            continue;
        for (unsigned j = 0; j < CHUNK_LEN; j++) {
            unsigned fd = (ci << CHUNK_SHIFT) | j;
            if (fd >= lo && fd <= hi)
                fn((int)fd, &c[j]);
        }
    }
}

static void
entry_fork_child(int fd, struct polldesc *pd)
{
    (void)fd;
    gr_lock_reset(&pd->lock);
    gr_store_relaxed(&pd->rd.nwait, 0);
    gr_store_relaxed(&pd->wr.nwait, 0);
    pd->nbhold = 0;
}

void
gr_fdtab_fork_child(void)
{
    gr_lock_reset(&grow_lock);
    gr_fdtab_each(0, ~0u, entry_fork_child);
}

/* Sole: created by a hook of this process, in this fork epoch, never dup'ed nor sent. */
static bool
is_sole(struct polldesc *pd)
{
    return gr_load_relaxed(&pd->sole) &&
           gr_load_relaxed(&pd->fork_epoch) == gr_load_relaxed(&gr_fdtab_fork_epoch);
}

static int
classify(unsigned mode)
{
    switch (mode & S_IFMT) {
    case S_IFSOCK:
        return PD_KIND_SOCKET;
    case S_IFREG:
    case S_IFBLK:
    case S_IFDIR:
        return PD_KIND_FILE;
    default:
        /* FIFOs, character devices, and anonymous inodes (eventfd, epoll, timerfd...). */
        return PD_KIND_OTHER;
    }
}

int
gr_fdtab_kind(int fd, struct polldesc *pd)
{
    int k = gr_load_relaxed(&pd->kind);
    uint32_t gen;
    struct stat st;
    long r;

    if (k != PD_KIND_UNKNOWN)
        return k;
    gen = gr_load(&pd->gen);
    r = gr_syscall2(SYS_fstat, fd, &st);
    if (r < 0)
        return (int)r;
    k = classify(st.st_mode);
    gr_lock(&pd->lock);
    if (gr_load_relaxed(&pd->gen) == gen && gr_load_relaxed(&pd->kind) == PD_KIND_UNKNOWN)
        gr_store_relaxed(&pd->kind, (uint8_t)k);
    gr_unlock(&pd->lock);
    return k;
}

void
gr_fdtab_forget_kind(struct polldesc *pd, uint8_t wrong)
{
    gr_lock(&pd->lock);
    if (gr_load_relaxed(&pd->kind) == wrong)
        gr_store_relaxed(&pd->kind, (uint8_t)PD_KIND_UNKNOWN);
    gr_unlock(&pd->lock);
}

bool
gr_fdtab_nonblock(int fd, struct polldesc *pd)
{
    long fl;

    if (is_sole(pd)) {
        uint8_t nb = gr_load_relaxed(&pd->nonblock);
        if (nb != PD_NB_UNKNOWN)
            return nb == PD_NB_ON;
    }
    /* Not sole: another number or process may change the flag at any time; ask. A hold is
     * only ever taken on a sole descriptor, so the kernel's flag is the program's here. */
    fl = gr_syscall2(SYS_fcntl, fd, F_GETFL);
    if (fl < 0)
        return false; /* the caller's next call reports the error */
    if (is_sole(pd))
        gr_store_relaxed(&pd->nonblock, (uint8_t)((fl & O_NONBLOCK) ? PD_NB_ON : PD_NB_OFF));
    return (fl & O_NONBLOCK) != 0;
}

void
gr_fdtab_set_nonblock(struct polldesc *pd, bool on)
{
    gr_store_relaxed(&pd->nonblock, (uint8_t)(on ? PD_NB_ON : PD_NB_OFF));
}

int64_t
gr_fdtab_timeout(int fd, struct polldesc *pd, unsigned dir)
{
    uint8_t bit = dir == GR_POLL_READ ? 1 : 2;
    struct gr_atomic_i64 *slot = dir == GR_POLL_READ ? &pd->rcvtimeo : &pd->sndtimeo;
    struct timeval tv = { 0, 0 };
    socklen_t len = sizeof(tv);
    uint32_t gen;
    int64_t ns = 0;

    if (gr_load_acquire(&pd->timeo_known) & bit) /* pairs with the release below */
        return gr_load_relaxed(slot);
    gen = gr_load(&pd->gen);
    if (gr_syscall6(SYS_getsockopt, fd, SOL_SOCKET, dir == GR_POLL_READ ? SO_RCVTIMEO : SO_SNDTIMEO,
                    (long)&tv, (long)&len, 0) == 0)
        ns = (int64_t)tv.tv_sec * GR_NSEC_PER_SEC + (int64_t)tv.tv_usec * 1000;
    if (ns < 0)
        ns = 0;
    gr_lock(&pd->lock);
    if (gr_load_relaxed(&pd->gen) == gen) {
        gr_store_relaxed(slot, ns);
        gr_fetch_or(&pd->timeo_known, bit);
    }
    gr_unlock(&pd->lock);
    return ns;
}

void
gr_fdtab_set_timeout(struct polldesc *pd, unsigned dir, int64_t ns)
{
    uint8_t bit = dir == GR_POLL_READ ? 1 : 2;

    gr_lock(&pd->lock);
    if (ns < 0) {
        gr_fetch_and(&pd->timeo_known, (uint8_t)~bit);
    } else {
        gr_store_relaxed(dir == GR_POLL_READ ? &pd->rcvtimeo : &pd->sndtimeo, ns);
        gr_fetch_or(&pd->timeo_known, bit);
    }
    gr_unlock(&pd->lock);
}

bool
gr_fdtab_is_stream(int fd, struct polldesc *pd)
{
    uint8_t s = gr_load_relaxed(&pd->stream);
    int type = 0;
    socklen_t len = sizeof(type);

    if (s != PD_STREAM_UNKNOWN)
        return s == PD_STREAM_YES;
    if (gr_syscall6(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, (long)&type, (long)&len, 0) != 0)
        return false;
    /* A racing reset may lose this store or keep it a moment too long: it is only a hint. */
    gr_store_relaxed(&pd->stream, (uint8_t)(type == SOCK_STREAM ? PD_STREAM_YES : PD_STREAM_NO));
    return type == SOCK_STREAM;
}

void
gr_fdtab_unshare(struct polldesc *pd)
{
    if (gr_load_relaxed(&pd->sole)) {
        gr_lock(&pd->lock);
        gr_store_relaxed(&pd->sole, (uint8_t)0);
        gr_unlock(&pd->lock);
    }
}

void
gr_fdtab_reset_locked(struct polldesc *pd, const struct pd_facts *f)
{
    gr_store(&pd->gen, gr_load_relaxed(&pd->gen) + 1);
    gr_store(&pd->reg, (uint8_t)PD_REG_NONE);
    pd->nbhold = 0;
    pd->saved_fl = 0;
    gr_store_relaxed(&pd->fork_epoch, gr_load_relaxed(&gr_fdtab_fork_epoch));
    gr_store_relaxed(&pd->kind, (uint8_t)(f != NULL ? f->kind : PD_KIND_UNKNOWN));
    gr_store_relaxed(&pd->nonblock, (uint8_t)(f != NULL ? f->nonblock : PD_NB_UNKNOWN));
    gr_store_relaxed(&pd->stream, (uint8_t)(f != NULL ? f->stream : PD_STREAM_UNKNOWN));
    gr_store_relaxed(&pd->sole, (uint8_t)(f != NULL && f->sole));
    gr_store_relaxed(&pd->rcvtimeo, f != NULL ? f->rcvtimeo : 0);
    gr_store_relaxed(&pd->sndtimeo, f != NULL ? f->sndtimeo : 0);
    gr_store_release(&pd->timeo_known, (uint8_t)(f != NULL && f->timeo_known ? 3 : 0));
    gr_store_relaxed(&pd->rd.nowait, (uint8_t)PD_NOWAIT_UNKNOWN);
    gr_store_relaxed(&pd->wr.nowait, (uint8_t)PD_NOWAIT_UNKNOWN);
}

/* ---- O_NONBLOCK holds. */

bool
gr_fdtab_nb_hold(int fd, struct polldesc *pd, uint32_t *gen)
{
    long fl;

    if (!is_sole(pd))
        return false;
    gr_lock(&pd->lock);
    if (pd->nbhold == 0) {
        fl = gr_syscall2(SYS_fcntl, fd, F_GETFL);
        if (fl < 0 || (fl & O_NONBLOCK) ||
            gr_syscall3(SYS_fcntl, fd, F_SETFL, fl | O_NONBLOCK) != 0) {
            gr_unlock(&pd->lock);
            return false;
        }
        pd->saved_fl = (int)fl;
    }
    pd->nbhold++;
    *gen = gr_load_relaxed(&pd->gen);
    gr_unlock(&pd->lock);
    return true;
}

void
gr_fdtab_nb_release(int fd, struct polldesc *pd, uint32_t gen)
{
    gr_lock(&pd->lock);
    /* A close (or a reuse of the number) in between reset the count: leave the file alone. */
    if (gr_load_relaxed(&pd->gen) == gen && pd->nbhold > 0 && --pd->nbhold == 0)
        gr_syscall3(SYS_fcntl, fd, F_SETFL, pd->saved_fl);
    gr_unlock(&pd->lock);
}

bool
gr_fdtab_getfl(struct polldesc *pd, int *fl)
{
    bool held = false;

    if (!gr_load_relaxed(&pd->sole))
        return false;
    gr_lock(&pd->lock);
    if (pd->nbhold > 0) {
        *fl = pd->saved_fl;
        held = true;
    }
    gr_unlock(&pd->lock);
    return held;
}

bool
gr_fdtab_setfl(int fd, struct polldesc *pd, int fl, long *res)
{
    long r, now;

    if (!is_sole(pd))
        return false;
    /* Under the lock, so that a hold starting meanwhile saves the new flags, not the old. */
    gr_lock(&pd->lock);
    if (pd->nbhold > 0) {
        r = gr_syscall3(SYS_fcntl, fd, F_SETFL, fl | O_NONBLOCK);
        if (r == 0) {
            now = gr_syscall2(SYS_fcntl, fd, F_GETFL);
            if (now >= 0)
                pd->saved_fl = (int)((fl & O_NONBLOCK) ? now : (now & ~(long)O_NONBLOCK));
        }
    } else {
        r = gr_syscall3(SYS_fcntl, fd, F_SETFL, fl);
    }
    if (r == 0)
        gr_store_relaxed(&pd->nonblock, (uint8_t)((fl & O_NONBLOCK) ? PD_NB_ON : PD_NB_OFF));
    gr_unlock(&pd->lock);
    *res = r;
    return true;
}

bool
gr_fdtab_setnb(int fd, struct polldesc *pd, bool on, long *res)
{
    int arg = on;
    long r;

    if (!is_sole(pd))
        return false;
    gr_lock(&pd->lock);
    if (pd->nbhold > 0) {
        /* The file stays non-blocking until the last hold ends; only the view changes. */
        pd->saved_fl = on ? (pd->saved_fl | O_NONBLOCK) : (pd->saved_fl & ~O_NONBLOCK);
        r = 0;
    } else {
        r = gr_syscall3(SYS_ioctl, fd, FIONBIO, &arg);
    }
    if (r == 0)
        gr_store_relaxed(&pd->nonblock, (uint8_t)(on ? PD_NB_ON : PD_NB_OFF));
    gr_unlock(&pd->lock);
    *res = r;
    return true;
}
