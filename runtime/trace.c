/*
 * runtime/trace.c: the scheduler's timeline (GREENRUN_TRACE=path), one track per M.
 *
 * Recording. Each M has a buffer of its own (struct gr_tracebuf, mapped at its first event):
 * TRACE_RECS fixed-size binary records, 64 KiB. gr_trace_emit appends one with the monotonic
 * clock's time (the vDSO, as gr_nanotime) and publishes it with a store-release of len. Only
 * the M itself appends, so recording takes no lock and no locked instruction. A full buffer
 * drops the event and counts it (reported on the M's track at exit).
 *
 * Flushing. At points where the M holds no lock and may block (gr_trace_safepoint: the
 * scheduler loop on g0, a G entering syscall mode, sysmon's loop), an M whose buffer is half
 * full turns its records into JSON lines in its own text buffer and writes them out, one
 * write(2) per TRACE_TEXT bytes, then empties the buffer. The file is opened O_APPEND: each
 * write lands whole at the end, so Ms need no lock between them; lines of different Ms
 * interleave in chunks, and readers order events by ts.
 *
 * The file: "[\n", then one event per line, each ending in ",\n", and at exit a last
 * metadata line without the comma and "]\n", so the whole file is one JSON array of
 * trace-event objects (pid: the process, tid: the M's id). The converter keeps per M which
 * slices are open (a G's run, a call in syscall mode inside it), so every B line has its E
 * on the same track even when an event was dropped, and closes what is still open at exit.
 *
 * Exit (gr_trace_finish): stops recording, sets closed, then takes every M's busy flag in
 * turn (waiting for an M that is writing), writes what the buffer holds and keeps the flag:
 * an M flushing later finds it taken, or finds closed after taking its own, and writes
 * nothing after the closing bracket. closed (a store) and an M's busy CAS then its load of
 * closed are the two sides of a Dekker pair: either the M sees closed, or gr_trace_finish
 * sees its flag taken and waits.
 *
 * Locks: none. busy guards each buffer's conversion state (the owner's flush against exit).
 */
#include "runtime/trace.h"

#include <errno.h>
#include <sys/mman.h>

#include "runtime/debug.h"
#include "runtime/sched.h"
#include "runtime/sys.h"

#define TRACE_RECS 2048  /* records per M: 64 KiB */
#define TRACE_TEXT 32768 /* JSON staged per write(2) */
#define LINE_MAX   512   /* the longest line the converter writes, with room to spare */

struct rec {
    int64_t ts; /* gr_nanotime */
    uint32_t kind;
    uint32_t x;
    uint64_t a;
    uint64_t b;
};

struct gr_tracebuf {
    struct gr_atomic_u32 len;     /* atomic: records in use; the owner appends (store-release,
                                     pairs with the flushers' load-acquire) and empties it
                                     under busy */
    struct gr_atomic_u32 busy;    /* atomic: 1 while a flush converts it (owner or exit) */
    struct gr_atomic_u32 dropped; /* atomic: events lost to a full buffer */
    int32_t mid;                  /* immutable: the M's id, the track */
    bool sysmon;                  /* immutable */
    bool named;                   /* under busy: the track's name is written */
    uint64_t open_g;              /* under busy: the G whose run slice is open, or 0 */
    bool open_sys;                /* under busy: a syscall slice is open inside it */
    size_t tlen;                  /* under busy: bytes staged in text */
    char text[TRACE_TEXT];
    struct rec recs[TRACE_RECS];
};

struct gr_atomic_u8 gr_trace_on;

static int trace_fd = -1;              /* written by gr_trace_open, then by the fork child */
static int32_t trace_pid;              /* immutable after gr_trace_open */
static int64_t trace_t0;               /* immutable after gr_trace_open: ts 0 */
static struct gr_atomic_u32 closed;    /* atomic: gr_trace_finish ran (or a fork child) */
static struct gr_atomic_u32 finishing; /* atomic: the one gr_trace_finish */

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
    /* Pairs with the load-acquire in gr_trace_finish: the fields above are set. */
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
    /* Pairs with the load-acquire of len in flush: the record is whole. */
    gr_store_release(&tb->len, n + 1);
}

/* ---- Writing JSON. */

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

static void
text_flush(struct gr_tracebuf *tb)
{
    write_all(tb->text, tb->tlen);
    tb->tlen = 0;
}

static void
put(struct gr_tracebuf *tb, const char *s)
{
    while (*s != '\0')
        tb->text[tb->tlen++] = *s++;
}

static void
put_u64(struct gr_tracebuf *tb, uint64_t v)
{
    char d[20];
    int n = 0;

    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        tb->text[tb->tlen++] = d[--n];
}

/* A string literal of the runtime's (a wait reason), escaped for JSON and cut at 64 bytes. */
static void
put_str(struct gr_tracebuf *tb, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    tb->text[tb->tlen++] = '"';
    for (int i = 0; s != NULL && s[i] != '\0' && i < 64; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            tb->text[tb->tlen++] = '\\';
            tb->text[tb->tlen++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            put(tb, "\\u00");
            tb->text[tb->tlen++] = hex[c >> 4];
            tb->text[tb->tlen++] = hex[c & 15];
        } else {
            tb->text[tb->tlen++] = (char)c;
        }
    }
    tb->text[tb->tlen++] = '"';
}

/* The start of a line: phase, name, time in microseconds (ns precision), pid, tid. */
static void
head(struct gr_tracebuf *tb, const char *ph, const char *name, uint64_t gname, int64_t ts)
{
    uint64_t rel = ts > trace_t0 ? (uint64_t)(ts - trace_t0) : 0;
    uint64_t frac = rel % 1000;

    if (tb->tlen + LINE_MAX > TRACE_TEXT)
        text_flush(tb);
    put(tb, "{\"ph\":\"");
    put(tb, ph);
    put(tb, "\",\"name\":\"");
    put(tb, name);
    if (gname != 0)
        put_u64(tb, gname);
    put(tb, "\",\"ts\":");
    put_u64(tb, rel / 1000);
    tb->text[tb->tlen++] = '.';
    tb->text[tb->tlen++] = (char)('0' + frac / 100);
    tb->text[tb->tlen++] = (char)('0' + frac / 10 % 10);
    tb->text[tb->tlen++] = (char)('0' + frac % 10);
    put(tb, ",\"pid\":");
    put_u64(tb, (uint64_t)trace_pid);
    put(tb, ",\"tid\":");
    put_u64(tb, (uint64_t)tb->mid);
    if (ph[0] == 'i')
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
    head(tb, "E", "syscall", 0, ts);
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
    head(tb, "E", "G", tb->open_g, ts);
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
        return "syscall-nop"; /* back from a call with no P to run on */
    default:
        return "?";
    }
}

static void
instant(struct gr_tracebuf *tb, const char *name, const struct rec *r)
{
    head(tb, "i", name, 0, r->ts);
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
        head(tb, "B", "G", r->a, r->ts);
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
        head(tb, "B", "syscall", 0, r->ts);
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
    head(tb, "M", "thread_name", 0, trace_t0);
    put(tb, ",\"args\":{\"name\":\"");
    put(tb, tb->sysmon ? "sysmon M" : "M");
    put_u64(tb, (uint64_t)tb->mid);
    put(tb, "\"}},\n");
    tb->named = true;
}

/* Convert the records in tb and write them. Requires: busy held. final: close the open
 * slices at now and report drops (exit). Returns the records converted. */
static uint32_t
drain(struct gr_tracebuf *tb, bool final)
{
    /* Pairs with the store-release in gr_trace_emit. */
    uint32_t n = gr_load_acquire(&tb->len);
    int64_t now;

    if (!tb->named)
        name_track(tb);
    for (uint32_t i = 0; i < n; i++)
        convert(tb, &tb->recs[i]);
    if (final) {
        now = gr_nanotime();
        if (tb->open_g != 0)
            close_g(tb, now, "running at exit", NULL);
        else if (tb->open_sys)
            close_sys(tb, now, 0, 0);
        if (gr_load_relaxed(&tb->dropped) != 0) {
            head(tb, "i", "dropped", 0, now);
            arg(tb, "n", gr_load_relaxed(&tb->dropped), true);
            end_line(tb, true);
        }
    }
    text_flush(tb);
    return n;
}

void
gr_trace_flush_due(struct m *mp)
{
    struct gr_tracebuf *tb = gr_load_relaxed(&mp->trace);
    uint32_t zero = 0;

    if (tb == NULL || gr_load_relaxed(&tb->len) < TRACE_RECS / 2)
        return;
    /* The Dekker pair with gr_trace_finish (header): take busy, then look at closed. */
    if (!gr_cas(&tb->busy, &zero, 1))
        return;
    if (gr_load(&closed) == 0) {
        drain(tb, false);
        /* Only this M appends, and it is here: nothing arrived meanwhile. */
        gr_store_relaxed(&tb->len, 0);
    }
    gr_store_release(&tb->busy, 0);
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

void
gr_trace_finish(void)
{
    uint32_t zero = 0;
    char last[160];
    size_t n;

    if (trace_fd < 0 || gr_load(&closed) != 0 || !gr_cas(&finishing, &zero, 1))
        return;
    gr_store(&gr_trace_on, 0);
    gr_store(&closed, 1);
    for (struct m *mp = gr_load(&gr_sched.allm); mp != NULL; mp = mp->alllink) {
        /* Pairs with the store-release in buf_new. */
        struct gr_tracebuf *tb = gr_load_acquire(&mp->trace);

        if (tb == NULL)
            continue;
        for (zero = 0; !gr_cas(&tb->busy, &zero, 1); zero = 0)
            gr_sys_sched_yield(); /* its M is writing: wait for it, then keep the flag */
        drain(tb, true);
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
    gr_store(&closed, 1);
    trace_fd = -1;
    gr_fd_release(fd);
    gr_sys_close(fd);
}
