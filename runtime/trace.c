/*
 * runtime/trace.c: the scheduler's timeline (GREENRUN_TRACE=path), one track per M.
 *
 * Recording. Each M has a buffer of its own (struct gr_tracebuf, mapped at its first event)
 * of TRACE_RECS fixed-size binary records, 64 KiB. gr_trace_emit appends one with the
 * monotonic clock's time (gr_nanotime, the vDSO) and publishes it with a store-release of
 * len. Only the M itself appends, so recording takes no lock and no locked instruction. A
 * full buffer drops the event and counts it (reported on the M's track at exit).
 *
 * Converting. At points where the M holds no lock (gr_trace_safepoint: the scheduler loop on
 * g0, a G entering syscall mode, sysmon's loop), an M whose buffer is half full turns its
 * records into JSON lines in one of its two text chunks and empties the buffer.
 *
 * Writing. A full chunk goes to the writer, a service M of its own started at boot like
 * sysmon, which writes it and gives it back. The Ms that run Gs do not write: a write to a
 * file can sleep in the kernel for milliseconds (the page cache throttles a fast writer),
 * and an M holding a P there stalls that P's Gs. When the writer falls behind (it needs a
 * CPU, and the Ms may keep every CPU busy), an M that needs its other chunk while it still
 * waits takes it back and writes it itself, or, if the writer is on it, writes the chunk it
 * fills: back-pressure rather than lost events. A chunk moves FREE -> FULL (its M hands it
 * over) -> WRITING (the writer, or its M taking it back, by CAS) -> FREE.
 *
 * The file: "[\n", then one event per line, each ending in ",\n", and at exit a last
 * metadata line without the comma and "]\n", so the whole file is one JSON array of
 * trace-event objects (pid: the process, tid: the M's id). Chunks of one M may reach the
 * file out of order when its M wrote one itself: readers order events by ts (viewers do).
 * The converter keeps per M which slices are open (a G's run, a call in syscall mode inside
 * it), so every B line has its E on the same track even when an event was dropped, and
 * closes what is still open at exit.
 *
 * Exit (gr_trace_finish): stops recording, then takes every M's busy flag for good (waiting
 * for an M that is converting), converts what its buffer holds, writes its chunks (waiting
 * for one the writer is writing), and then the closing bracket. No chunk turns FULL after
 * that, so nothing lands after the bracket. An emit already past its check of gr_trace_on
 * may still land in a buffer meanwhile; it is written or not, and the JSON stays whole.
 *
 * Locks: none. Each M's busy flag (a CAS) guards its conversion state against exit; each
 * chunk's state says who may touch its text.
 */
#include "runtime/trace.h"

#include <errno.h>
#include <sys/mman.h>

#include "runtime/debug.h"
#include "runtime/m.h"
#include "runtime/sched.h"
#include "runtime/sys.h"

#define TRACE_RECS 2048  /* records per M: 64 KiB */
#define TRACE_TEXT 65536 /* bytes of JSON per chunk, one write(2) */
#define LINE_MAX   512   /* the longest line the converter writes, with room to spare */

enum { CHUNK_FREE, CHUNK_FULL, CHUNK_WRITING };

struct rec {
    int64_t ts; /* gr_nanotime */
    uint32_t kind;
    uint32_t x;
    uint64_t a;
    uint64_t b;
};

struct chunk {
    struct gr_atomic_u32 state; /* atomic: CHUNK_*; FULL is a store-release by the M, taken
                                   by CAS (acquire), FREE a store-release by whoever wrote it */
    uint32_t len;               /* bytes of text; written before FULL */
    char text[TRACE_TEXT];
};

struct gr_tracebuf {
    struct gr_atomic_u32 len;     /* atomic: records in use; the owner appends (store-release,
                                     pairs with the converters' load-acquire) and empties it
                                     under busy */
    struct gr_atomic_u32 busy;    /* atomic: 1 while it converts (its M, or exit for good) */
    struct gr_atomic_u32 dropped; /* atomic: events lost to a full buffer */
    int32_t mid;                  /* immutable: the M's id, the track */
    bool sysmon;                  /* immutable */
    uint8_t idslen;               /* immutable: bytes in ids */
    char ids[40];                 /* immutable: ,"pid":P,"tid":T of its lines */
    bool named;                   /* under busy: the track's name is written */
    uint64_t open_g;              /* under busy: the G whose run slice is open, or 0 */
    bool open_sys;                /* under busy: a syscall slice is open inside it */
    uint32_t tcur;                /* under busy: the chunk being filled */
    char *w;                      /* under busy: where the next byte of text goes */
    struct rec recs[TRACE_RECS];
    struct chunk chunk[2];
};

struct gr_atomic_u8 gr_trace_on;

static int trace_fd = -1;              /* written by gr_trace_open, then by the fork child */
static int32_t trace_pid;              /* immutable after gr_trace_open */
static int64_t trace_t0;               /* immutable after gr_trace_open: ts 0 */
static struct gr_atomic_u32 finishing; /* atomic: the one gr_trace_finish, or a fork child */
static struct gr_atomic_u32 wake_seq;  /* atomic: bumped at every hand-over; the writer's futex */

/* ---- Recording. */

static struct gr_tracebuf *
buf_new(struct m *mp)
{
    void *mem = gr_sys_mmap(NULL, sizeof(struct gr_tracebuf), PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct gr_tracebuf *tb;

    if ((uintptr_t)mem >= (uintptr_t)-4095)
        return NULL; /* -errno: no track for this M */
    tb = mem;
    tb->mid = mp->id;
    tb->sysmon = mp->is_sysmon;
    tb->idslen = (uint8_t)gr_snprint(tb->ids, sizeof(tb->ids), ",\"pid\":%d,\"tid\":%d",
                                     (int)trace_pid, (int)mp->id);
    tb->w = tb->chunk[0].text;
    /* Pairs with the load-acquire in the writer and gr_trace_finish: the fields are set. */
    gr_store_release(&mp->trace, tb);
    return tb;
}

void
gr_trace_emit(uint32_t kind, uint32_t x, uint64_t a, uint64_t b)
{
    struct gr_tracebuf *tb;
    struct rec *r;
    struct m *mp;
    uint32_t n;

    if (gr_curg == NULL)
        return; /* not on an M: no track to put it on */
    mp = gr_getm();
    tb = gr_load_relaxed(&mp->trace);
    if (tb == NULL && (tb = buf_new(mp)) == NULL)
        return;
    n = gr_load_relaxed(&tb->len);
    if (n >= TRACE_RECS) {
        gr_xadd_relaxed(&tb->dropped, 1);
        return;
    }
    r = &tb->recs[n];
    r->ts = gr_nanotime();
    r->kind = kind;
    r->x = x;
    r->a = a;
    r->b = b;
    /* Pairs with the load-acquire of len in convert_all: the record is whole. */
    gr_store_release(&tb->len, n + 1);
}

/* ---- Writing. */

static void
write_all(const char *p, size_t n)
{
    while (n > 0 && trace_fd >= 0) {
        ssize_t w = gr_sys_write(trace_fd, p, n);
        if (w == -EINTR)
            continue;
        if (w <= 0)
            return; /* a full disk: the trace ends short, the program goes on */
        p += w;
        n -= (size_t)w;
    }
}

/* Write chunk c if it waits (FULL), as whoever takes it. */
static bool
take_and_write(struct chunk *c)
{
    uint32_t full = CHUNK_FULL;

    /* Pairs with the store-release of FULL in next_chunk: the text is whole. */
    if (!gr_cas_acquire(&c->state, &full, CHUNK_WRITING))
        return false;
    write_all(c->text, c->len);
    /* Pairs with the load-acquire in next_chunk: the M may fill it again. */
    gr_store_release(&c->state, CHUNK_FREE);
    return true;
}

/*
 * The chunk being filled is done: hand it to the writer and go on in the other. If the other
 * still waits for the writer, take it back and write it here; if the writer is writing it,
 * write this one here and keep it. Requires: busy held.
 */
static void
next_chunk(struct gr_tracebuf *tb)
{
    struct chunk *c = &tb->chunk[tb->tcur], *o = &tb->chunk[tb->tcur ^ 1];

    c->len = (uint32_t)(tb->w - c->text);
    if (c->len == 0)
        return;
    take_and_write(o);
    /* Pairs with the store-release of FREE in take_and_write. */
    if (gr_load_acquire(&o->state) != CHUNK_FREE) {
        write_all(c->text, c->len); /* the writer is on the other: back-pressure */
        tb->w = c->text;
        return;
    }
    /* Pairs with the CAS in take_and_write. */
    gr_store_release(&c->state, CHUNK_FULL);
    tb->tcur ^= 1;
    tb->w = o->text;
    gr_xadd(&wake_seq, 1);
    gr_sys_futex_wake(gr_atomic_word(&wake_seq), 1);
}

/* ---- Converting. */

/* Inlined, so that a literal's length is a constant and the copy a few moves: the
 * converter's cost is most of what a traced program pays. */
static inline __attribute__((always_inline)) void
put(struct gr_tracebuf *tb, const char *s)
{
    size_t n = __builtin_strlen(s);

    __builtin_memcpy(tb->w, s, n);
    tb->w += n;
}

static void
put_u64(struct gr_tracebuf *tb, uint64_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char d[20];
    int n = 20;

    while (v >= 100) {
        uint64_t q = v / 100;
        n -= 2;
        __builtin_memcpy(d + n, pairs + 2 * (v - 100 * q), 2);
        v = q;
    }
    if (v >= 10) {
        n -= 2;
        __builtin_memcpy(d + n, pairs + 2 * v, 2);
    } else {
        d[--n] = (char)('0' + v);
    }
    __builtin_memcpy(tb->w, d + n, (size_t)(20 - n));
    tb->w += 20 - n;
}

/* A string literal of the runtime's (a wait reason), escaped for JSON and cut at 64 bytes. */
static void
put_str(struct gr_tracebuf *tb, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    *tb->w++ = '"';
    for (int i = 0; s != NULL && s[i] != '\0' && i < 64; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *tb->w++ = '\\';
            *tb->w++ = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            put(tb, "\\u00");
            *tb->w++ = hex[c >> 4];
            *tb->w++ = hex[c & 15];
        } else {
            *tb->w++ = (char)c;
        }
    }
    *tb->w++ = '"';
}

/* The start of a line: phase, name, time in microseconds (ns precision), pid, tid. */
static void
head(struct gr_tracebuf *tb, char ph, const char *name, uint64_t gname, int64_t ts)
{
    uint64_t rel = ts > trace_t0 ? (uint64_t)(ts - trace_t0) : 0;
    uint64_t frac = rel % 1000;

    if (tb->w + LINE_MAX > tb->chunk[tb->tcur].text + TRACE_TEXT)
        next_chunk(tb);
    put(tb, "{\"ph\":\"");
    *tb->w++ = ph;
    put(tb, "\",\"name\":\"");
    put(tb, name);
    if (gname != 0)
        put_u64(tb, gname);
    put(tb, "\",\"ts\":");
    put_u64(tb, rel / 1000);
    tb->w[0] = '.';
    tb->w[1] = (char)('0' + frac / 100);
    tb->w[2] = (char)('0' + frac / 10 % 10);
    tb->w[3] = (char)('0' + frac % 10);
    tb->w += 4;
    __builtin_memcpy(tb->w, tb->ids, tb->idslen);
    tb->w += tb->idslen;
    if (ph == 'i')
        put(tb, ",\"s\":\"t\"");
}

/* One "key":number pair of args; first opens the args object. */
static void
arg(struct gr_tracebuf *tb, const char *key, uint64_t v, bool first)
{
    put(tb, first ? ",\"args\":{\"" : ",\"");
    put(tb, key);
    put(tb, "\":");
    put_u64(tb, v);
}

static void
end_line(struct gr_tracebuf *tb, bool args)
{
    put(tb, args ? "}},\n" : "},\n");
}

static void
close_sys(struct gr_tracebuf *tb, int64_t ts, uint64_t g, uint32_t handoff)
{
    head(tb, 'E', "syscall", 0, ts);
    arg(tb, "g", g, true);
    arg(tb, "handoff", handoff, false);
    end_line(tb, true);
    tb->open_sys = false;
}

static void
close_g(struct gr_tracebuf *tb, int64_t ts, const char *why, const char *reason)
{
    if (tb->open_sys)
        close_sys(tb, ts, tb->open_g, 0);
    head(tb, 'E', "G", tb->open_g, ts);
    arg(tb, "g", tb->open_g, true);
    put(tb, ",\"why\":");
    put_str(tb, why);
    if (reason != NULL) {
        put(tb, ",\"reason\":");
        put_str(tb, reason);
    }
    end_line(tb, true);
    tb->open_g = 0;
}

static const char *
stop_why(uint32_t after)
{
    switch (after) {
    case AFTER_PARK:
        return "park";
    case AFTER_YIELD:
    case AFTER_YIELD_LOCAL:
        return "yield";
    case AFTER_EXIT:
        return "exit";
    case AFTER_EXITSYSCALL:
        return "no P after a call"; /* back from syscall mode, it waits for one */
    default:
        return "?";
    }
}

static void
instant(struct gr_tracebuf *tb, const char *name, const struct rec *r)
{
    head(tb, 'i', name, 0, r->ts);
}

static void
convert(struct gr_tracebuf *tb, const struct rec *r)
{
    switch (r->kind) {
    case GR_EV_GO_CREATE:
        instant(tb, "create", r);
        arg(tb, "g", r->a, true);
        arg(tb, "by", r->b, false);
        end_line(tb, true);
        break;
    case GR_EV_GO_START:
        if (tb->open_g != 0)
            close_g(tb, r->ts, "lost", NULL); /* its stop was dropped */
        head(tb, 'B', "G", r->a, r->ts);
        arg(tb, "g", r->a, true);
        end_line(tb, true);
        tb->open_g = r->a;
        break;
    case GR_EV_GO_STOP:
        if (tb->open_g == r->a)
            close_g(tb, r->ts, stop_why(r->x),
                    r->x == AFTER_PARK ? (const char *)(uintptr_t)r->b : NULL);
        if (r->x == AFTER_EXIT) {
            instant(tb, "exit", r);
            arg(tb, "g", r->a, true);
            end_line(tb, true);
        }
        break;
    case GR_EV_READY:
        instant(tb, "ready", r);
        arg(tb, "g", r->a, true);
        arg(tb, "by", r->b, false);
        if (r->x != 0)
            arg(tb, "netpoll", 1, false);
        end_line(tb, true);
        break;
    case GR_EV_SYSCALL_ENTER:
        if (tb->open_sys)
            close_sys(tb, r->ts, r->a, 0);
        head(tb, 'B', "syscall", 0, r->ts);
        arg(tb, "g", r->a, true);
        end_line(tb, true);
        tb->open_sys = true;
        break;
    case GR_EV_SYSCALL_EXIT:
        if (tb->open_sys)
            close_sys(tb, r->ts, r->a, r->x);
        break;
    case GR_EV_HANDOFF:
        instant(tb, "handoff", r);
        arg(tb, "p", r->x, true);
        end_line(tb, true);
        break;
    case GR_EV_STEAL:
        instant(tb, "steal", r);
        arg(tb, "from", r->x, true);
        arg(tb, "n", r->a, false);
        arg(tb, "p", r->b, false);
        end_line(tb, true);
        break;
    case GR_EV_NETPOLL:
        instant(tb, "netpoll", r);
        arg(tb, "n", r->a, true);
        end_line(tb, true);
        break;
    case GR_EV_TIMER:
        instant(tb, "timer", r);
        arg(tb, "g", r->a, true);
        arg(tb, "late_us", r->b / 1000, false);
        end_line(tb, true);
        break;
    case GR_EV_GC:
        instant(tb, "gc", r);
        arg(tb, "phase", r->x, true);
        end_line(tb, true);
        break;
    default:
        break; /* not a record of ours: skip it */
    }
}

/* The track's name, once, before its first event. */
static void
name_track(struct gr_tracebuf *tb)
{
    head(tb, 'M', "thread_name", 0, trace_t0);
    put(tb, ",\"args\":{\"name\":\"");
    put(tb, tb->sysmon ? "sysmon M" : "M");
    put_u64(tb, (uint64_t)tb->mid);
    put(tb, "\"}},\n");
    tb->named = true;
}

/* Turn tb's records into text and empty the buffer. Requires: busy held. */
static void
convert_all(struct gr_tracebuf *tb)
{
    /* Pairs with the store-release in gr_trace_emit. */
    uint32_t n = gr_load_acquire(&tb->len);

    if (!tb->named)
        name_track(tb);
    for (uint32_t i = 0; i < n; i++)
        convert(tb, &tb->recs[i]);
    /* Only this M appends, and it is here (or, at exit, no longer records). */
    gr_store_relaxed(&tb->len, 0);
}

void
gr_trace_flush_due(struct m *mp)
{
    struct gr_tracebuf *tb = gr_load_relaxed(&mp->trace);
    uint32_t zero = 0;

    if (tb == NULL || gr_load_relaxed(&tb->len) < TRACE_RECS / 2)
        return;
    if (!gr_cas_acquire(&tb->busy, &zero, 1))
        return; /* exit has it */
    convert_all(tb);
    gr_store_release(&tb->busy, 0);
}

/* ---- The writer. */

static void *
writer_main(void *arg)
{
    struct m *mp = arg;

    if (gr_m_init_self(mp) != 0)
        gr_throw("trace writer: cannot set the GS base");
    for (;;) {
        uint32_t seq = gr_load(&wake_seq);

        for (struct m *om = gr_load(&gr_sched.allm); om != NULL; om = om->alllink) {
            /* Pairs with the store-release in buf_new. */
            struct gr_tracebuf *tb = gr_load_acquire(&om->trace);
            if (tb != NULL) {
                take_and_write(&tb->chunk[0]);
                take_and_write(&tb->chunk[1]);
            }
        }
        /* A hand-over since seq was read bumped it: then this returns at once. */
        gr_sys_futex_wait(gr_atomic_word(&wake_seq), seq, -1);
    }
    return NULL;
}

void
gr_trace_start_writer(void)
{
    if (!gr_load_relaxed(&gr_trace_on))
        return;
    if (!gr_newm(NULL, false, true, writer_main))
        gr_print("greenrun: warning: cannot start the trace writer; the Ms write "
                 "GREENRUN_TRACE themselves\n");
}

/* ---- Opening and closing the file. */

int
gr_trace_open(const char *pattern)
{
    char path[4096];
    size_t n = 0;
    int fd;

    trace_pid = gr_sys_getpid();
    for (const char *s = pattern; *s != '\0'; s++) {
        if (n + 16 >= sizeof(path))
            return -ENAMETOOLONG;
        if (s[0] == '%' && s[1] == 'p') {
            n += gr_snprint(path + n, sizeof(path) - n, "%d", (int)trace_pid);
            s++;
        } else if (s[0] == '%' && s[1] == '%') {
            path[n++] = '%';
            s++;
        } else {
            path[n++] = *s;
        }
    }
    path[n] = '\0';
    fd = gr_sys_create_excl(path, 0600);
    if (fd < 0)
        return fd;
    trace_fd = gr_fd_reserve(fd);
    trace_t0 = gr_nanotime();
    write_all("[\n", 2);
    gr_store_release(&gr_trace_on, 1);
    return 0;
}

/* Write both chunks of tb, waiting for one the writer is writing. */
static void
write_chunks(struct gr_tracebuf *tb)
{
    for (int i = 0; i < 2; i++) {
        struct chunk *c = &tb->chunk[i];
        while (!take_and_write(c) && gr_load_acquire(&c->state) != CHUNK_FREE)
            gr_sys_sched_yield(); /* the writer is on it */
    }
}

void
gr_trace_finish(void)
{
    uint32_t zero = 0;
    char last[160];
    size_t n;

    if (trace_fd < 0 || !gr_cas(&finishing, &zero, 1))
        return;
    gr_store(&gr_trace_on, 0);
    for (struct m *mp = gr_load(&gr_sched.allm); mp != NULL; mp = mp->alllink) {
        /* Pairs with the store-release in buf_new. */
        struct gr_tracebuf *tb = gr_load_acquire(&mp->trace);
        int64_t now;

        if (tb == NULL)
            continue;
        for (zero = 0; !gr_cas_acquire(&tb->busy, &zero, 1); zero = 0)
            gr_sys_sched_yield(); /* its M is converting: wait, then keep the flag */
        write_chunks(tb);         /* the older text first */
        convert_all(tb);
        now = gr_nanotime();
        if (tb->open_g != 0)
            close_g(tb, now, "running at exit", NULL);
        else if (tb->open_sys)
            close_sys(tb, now, 0, 0);
        if (gr_load_relaxed(&tb->dropped) != 0) {
            head(tb, 'i', "dropped", 0, now);
            arg(tb, "n", gr_load_relaxed(&tb->dropped), true);
            end_line(tb, true);
        }
        write_chunks(tb); /* what a full chunk handed over just now */
        write_all(tb->chunk[tb->tcur].text, (size_t)(tb->w - tb->chunk[tb->tcur].text));
    }
    n = gr_snprint(last, sizeof(last),
                   "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,\"tid\":0,"
                   "\"args\":{\"name\":\"greenrun %d\"}}\n]\n",
                   (int)trace_pid, (int)trace_pid);
    write_all(last, n);
}

void
gr_trace_fork_child(void)
{
    int fd = trace_fd;

    if (fd < 0)
        return;
    gr_store(&gr_trace_on, 0);
    gr_store(&finishing, 1); /* the trace is the parent's to finish */
    trace_fd = -1;
    gr_fd_release(fd);
    gr_sys_close(fd);
}
