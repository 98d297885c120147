/*
 * preload/config.c: GREENRUN_* environment -> struct gr_config.
 *
 * Context: runs inside the -z initfirst constructor, before libc has initialised itself, and
 * also inside the launcher. So this file calls no libc function at all: no getenv, no malloc,
 * no stdio, nothing that depends on the locale (strtol, isdigit). Numbers are parsed by hand
 * with saturation, so no input can overflow, and the error message is built in the caller's
 * buffer by a bounded writer that always NUL-terminates.
 *
 * Rules:
 *  - Only names starting with "GREENRUN_" are looked at. A name that is not one we know is an
 *    error, so a typo is reported instead of silently ignored. GREENRUN_TEST_MODE (test runner)
 *    and GREENRUN_LIB (launcher) are known but carry nothing for the runtime.
 *  - When a name appears more than once in envp, the first entry is the one parsed: that is
 *    the one getenv() would return to the program.
 *  - An empty value counts as unset.
 *  - Values quoted in messages are cut after GR_MSG_VALUE_MAX bytes (then "..." follows);
 *    bytes outside printable ASCII are written as \xNN, and '"' and '\' get a backslash, so
 *    the message stays one unambiguous line.
 */
#include "preload/config.h"

#define GR_MSG_VALUE_MAX  64                  /* bytes of a value quoted in a message */
#define GR_SCHEDTRACE_MAX 3600000             /* one hour, in milliseconds */
#define GR_DECIMAL_CAP    ((uint64_t)1 << 40) /* scan_decimal saturates here */

#define ACCEPTED_DEBUG                                                                \
    "banner, stats, blocking, blocking=live, threshold=TIME (1us to 1h, like 500us, " \
    "10ms or 2s), schedtrace=MS (MS from 1 to 3600000), fs=arch_prctl, fs=auto, gctrace"
#define ACCEPTED_VARIABLES                                                               \
    "GREENRUN_PROCS, GREENRUN_STACK, GREENRUN_DEBUG, GREENRUN_MALLOC, GREENRUN_REPORT, " \
    "GREENRUN_TRACE, GREENRUN_QUIT, GREENRUN_GC, GREENRUN_GC_REPORT, GREENRUN_GC_PERCENT"

enum var_id {
    VAR_PROCS,
    VAR_STACK,
    VAR_DEBUG,
    VAR_MALLOC,
    VAR_REPORT,
    VAR_TRACE,
    VAR_QUIT,
    VAR_GC,
    VAR_GC_REPORT,
    VAR_GC_PERCENT,
    VAR_TEST_MODE,
    VAR_LIB,
    VAR_COUNT,
    VAR_UNKNOWN = VAR_COUNT,
};

static const char *const var_names[VAR_COUNT] = {
    [VAR_PROCS] = "GREENRUN_PROCS",         [VAR_STACK] = "GREENRUN_STACK",
    [VAR_DEBUG] = "GREENRUN_DEBUG",         [VAR_MALLOC] = "GREENRUN_MALLOC",
    [VAR_TEST_MODE] = "GREENRUN_TEST_MODE", [VAR_LIB] = "GREENRUN_LIB",
    [VAR_REPORT] = "GREENRUN_REPORT",       [VAR_TRACE] = "GREENRUN_TRACE",
    [VAR_QUIT] = "GREENRUN_QUIT",           [VAR_GC] = "GREENRUN_GC",
    [VAR_GC_REPORT] = "GREENRUN_GC_REPORT", [VAR_GC_PERCENT] = "GREENRUN_GC_PERCENT",
};

/*
 * A bounded message writer. Every piece is written whole or not at all, and once one piece
 * does not fit nothing more is written: the result is always a clean prefix of the full
 * message, never ends inside a \xNN escape, and is always NUL-terminated (when cap > 0).
 */
struct msg {
    char *buf;  /* NULL when the caller wants no message */
    size_t cap; /* bytes available in buf, the NUL included */
    size_t len; /* bytes written so far, the NUL excluded */
    bool full;  /* a piece did not fit; ignore everything that follows */
};

static void
msg_init(struct msg *m, char *buf, size_t cap)
{
    m->buf = cap > 0 ? buf : NULL;
    m->cap = buf != NULL ? cap : 0;
    m->len = 0;
    m->full = false;
    if (m->buf != NULL)
        m->buf[0] = '\0';
}

static void
msg_put_n(struct msg *m, const char *s, size_t n)
{
    if (m->buf == NULL || m->full)
        return;
    if (n > m->cap - 1 - m->len) {
        m->full = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        m->buf[m->len + i] = s[i];
    m->len += n;
    m->buf[m->len] = '\0';
}

/* Plain text may be cut between any two bytes, so it goes one byte at a time. */
static void
msg_put(struct msg *m, const char *s)
{
    for (; *s != '\0'; s++)
        msg_put_n(m, s, 1);
}

/* Quote user-supplied bytes: at most GR_MSG_VALUE_MAX of them, escaped as described above. */
static void
msg_put_value(struct msg *m, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t shown = n < GR_MSG_VALUE_MAX ? n : GR_MSG_VALUE_MAX;

    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[4];

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            msg_put_n(m, esc, 2);
        } else if (c >= 0x20 && c < 0x7f) {
            esc[0] = (char)c;
            msg_put_n(m, esc, 1);
        } else {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 0xf];
            msg_put_n(m, esc, 4);
        }
    }
    if (shown < n)
        msg_put_n(m, "...", 3);
}

/* Writes the common start of a bad-value message: greenrun: NAME="VALUE": */
static void
msg_put_head(struct msg *m, enum var_id id, const char *value, size_t vlen)
{
    msg_put(m, "greenrun: ");
    msg_put(m, var_names[id]);
    msg_put(m, "=\"");
    msg_put_value(m, value, vlen);
    msg_put(m, "\": ");
}

static size_t
str_len(const char *s)
{
    size_t n = 0;

    while (s[n] != '\0')
        n++;
    return n;
}

/* True when s[0..n) is exactly the NUL-terminated word. */
static bool
span_is(const char *s, size_t n, const char *word)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (word[i] == '\0' || word[i] != s[i])
            return false;
    }
    return word[i] == '\0';
}

/* True when s[0..n) starts with the NUL-terminated prefix. */
static bool
span_has_prefix(const char *s, size_t n, const char *prefix)
{
    size_t i;

    for (i = 0; prefix[i] != '\0'; i++) {
        if (i >= n || s[i] != prefix[i])
            return false;
    }
    return true;
}

/*
 * Scan decimal digits at the start of s[0..n). Returns how many digits were read (0 if none)
 * and stores the value in *out, saturated at GR_DECIMAL_CAP: callers only ever compare it
 * with limits far below the cap, so a saturated value is simply "too large".
 */
static size_t
scan_decimal(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > GR_DECIMAL_CAP)
            v = GR_DECIMAL_CAP;
    }
    *out = v;
    return i;
}

/* s[0..n) must be all digits with a value in [lo, hi]. */
static bool
parse_range(const char *s, size_t n, uint64_t lo, uint64_t hi, uint64_t *out)
{
    size_t used = scan_decimal(s, n, out);

    return used > 0 && used == n && *out >= lo && *out <= hi;
}

static int
parse_procs(struct gr_config *cfg, const char *value, struct msg *m)
{
    size_t n = str_len(value);
    uint64_t v;

    if (!parse_range(value, n, 1, GR_MAX_PROCS, &v)) {
        msg_put_head(m, VAR_PROCS, value, n);
        msg_put(m, "expected an integer from 1 to 1024");
        return -1;
    }
    cfg->procs = (int)v;
    return 0;
}

/* Digits with an optional k/K, m/M or g/G suffix (powers of 1024). */
static int
parse_stack(struct gr_config *cfg, const char *value, struct msg *m)
{
    size_t n = str_len(value);
    uint64_t v;
    size_t used = scan_decimal(value, n, &v);
    unsigned shift = 0;
    bool ok = used > 0;

    if (ok && used < n) {
        if (used + 1 != n)
            ok = false;
        else if (value[used] == 'k' || value[used] == 'K')
            shift = 10;
        else if (value[used] == 'm' || value[used] == 'M')
            shift = 20;
        else if (value[used] == 'g' || value[used] == 'G')
            shift = 30;
        else
            ok = false;
    }
    /* Compare before shifting so that nothing can overflow. */
    if (ok && v > (uint64_t)(GR_MAX_STACK >> shift))
        ok = false;
    if (ok) {
        v <<= shift;
        ok = v >= GR_MIN_STACK && v <= GR_MAX_STACK;
    }
    if (!ok) {
        msg_put_head(m, VAR_STACK, value, n);
        msg_put(m, "expected a size from 16K to 16G, like 64K, 8M or 1G");
        return -1;
    }
    cfg->stack_size = (size_t)v;
    return 0;
}

/* A duration with a unit, us, ms or s, from 1 us to one hour: *ns. */
static bool
parse_time(const char *s, size_t n, int64_t *ns)
{
    uint64_t v;
    size_t used = scan_decimal(s, n, &v);
    uint64_t unit;

    if (used == 0)
        return false;
    if (span_is(s + used, n - used, "us"))
        unit = 1000;
    else if (span_is(s + used, n - used, "ms"))
        unit = 1000000;
    else if (span_is(s + used, n - used, "s"))
        unit = 1000000000;
    else
        return false;
    if (v == 0 || v > 3600ULL * 1000000000ULL / unit)
        return false;
    *ns = (int64_t)(v * unit);
    return true;
}

/* A comma-separated list of items; empty items (",,", a trailing comma) are skipped. */
static int
parse_debug(struct gr_config *cfg, const char *value, struct msg *m)
{
    static const char schedtrace[] = "schedtrace=";
    static const char threshold[] = "threshold=";
    size_t n = str_len(value);
    size_t start = 0;

    while (start < n) {
        size_t end = start;

        while (end < n && value[end] != ',')
            end++;

        const char *item = value + start;
        size_t ilen = end - start;

        if (ilen == 0) {
            /* Nothing between two commas. */
        } else if (span_is(item, ilen, "banner")) {
            cfg->banner = true;
        } else if (span_is(item, ilen, "stats")) {
            cfg->stats = true;
        } else if (span_is(item, ilen, "gctrace")) {
            cfg->gctrace = true;
        } else if (span_is(item, ilen, "blocking")) {
            cfg->blocking = true;
        } else if (span_is(item, ilen, "blocking=live")) {
            cfg->blocking = true;
            cfg->blocking_live = true;
        } else if (span_has_prefix(item, ilen, threshold)) {
            size_t skip = sizeof(threshold) - 1;

            if (!parse_time(item + skip, ilen - skip, &cfg->live_threshold_ns)) {
                msg_put_head(m, VAR_DEBUG, value, n);
                msg_put(m, "bad value in \"");
                msg_put_value(m, item, ilen);
                msg_put(m, "\"; accepted: " ACCEPTED_DEBUG);
                return -1;
            }
        } else if (span_is(item, ilen, "fs=arch_prctl")) {
            cfg->fs_syscall = true;
        } else if (span_is(item, ilen, "fs=auto")) {
            cfg->fs_syscall = false;
        } else if (span_has_prefix(item, ilen, schedtrace)) {
            size_t skip = sizeof(schedtrace) - 1;
            uint64_t ms;

            if (!parse_range(item + skip, ilen - skip, 1, GR_SCHEDTRACE_MAX, &ms)) {
                msg_put_head(m, VAR_DEBUG, value, n);
                msg_put(m, "bad value in \"");
                msg_put_value(m, item, ilen);
                msg_put(m, "\"; accepted: " ACCEPTED_DEBUG);
                return -1;
            }
            cfg->schedtrace_ms = (int64_t)ms;
        } else {
            msg_put_head(m, VAR_DEBUG, value, n);
            msg_put(m, "unknown item \"");
            msg_put_value(m, item, ilen);
            msg_put(m, "\"; accepted: " ACCEPTED_DEBUG);
            return -1;
        }
        start = end + 1;
    }
    return 0;
}

/* One word, exact and lower-case: greenrun (the default) or system. */
static int
parse_malloc(struct gr_config *cfg, const char *value, struct msg *m)
{
    size_t n = str_len(value);

    if (span_is(value, n, "greenrun")) {
        cfg->malloc_system = false;
    } else if (span_is(value, n, "system")) {
        cfg->malloc_system = true;
    } else {
        msg_put_head(m, VAR_MALLOC, value, n);
        msg_put(m, "expected greenrun or system");
        return -1;
    }
    return 0;
}

/* A path of at most GR_TRACE_MAX bytes; '%' only in "%p" (the process id) and "%%". */
static int
parse_trace(struct gr_config *cfg, const char *value, struct msg *m)
{
    size_t n = str_len(value);
    bool ok = n <= GR_TRACE_MAX && value[n - 1] != '/';

    for (size_t i = 0; ok && i < n; i++) {
        if (value[i] == '%') {
            ok = i + 1 < n && (value[i + 1] == 'p' || value[i + 1] == '%');
            i++;
        }
    }
    if (!ok) {
        msg_put_head(m, VAR_TRACE, value, n);
        msg_put(m, "expected the path of a file to create (at most 4000 bytes, not ending in "
                   "'/'; %p stands for the process id, %% for '%')");
        return -1;
    }
    cfg->trace = value;
    return 0;
}

/* One word, exact and lower-case: dump (the default) or exit. */
static int
parse_quit(struct gr_config *cfg, const char *value, struct msg *m)
{
    size_t n = str_len(value);

    if (span_is(value, n, "dump")) {
        cfg->quit_exit = false;
    } else if (span_is(value, n, "exit")) {
        cfg->quit_exit = true;
    } else {
        msg_put_head(m, VAR_QUIT, value, n);
        msg_put(m, "expected dump or exit");
        return -1;
    }
    return 0;
}

/* One word, exact and lower-case: off (the default), leak or collect. */
static int
parse_gc(struct gr_config *cfg, const char *value, struct msg *m)
{
    size_t n = str_len(value);

    if (span_is(value, n, "off")) {
        cfg->gc = GR_GC_OFF;
    } else if (span_is(value, n, "leak")) {
        cfg->gc = GR_GC_LEAK;
    } else if (span_is(value, n, "collect")) {
        cfg->gc = GR_GC_COLLECT;
    } else {
        msg_put_head(m, VAR_GC, value, n);
        msg_put(m, "expected off, leak or collect");
        return -1;
    }
    return 0;
}

/* A percentage from 1 to 100000 (Go's GOGC), or off: never collect. */
static int
parse_gc_percent(struct gr_config *cfg, const char *value, struct msg *m)
{
    size_t n = str_len(value);
    uint64_t v;

    if (span_is(value, n, "off")) {
        cfg->gc_percent = -1;
    } else if (parse_range(value, n, 1, 100000, &v)) {
        cfg->gc_percent = (int)v;
    } else {
        msg_put_head(m, VAR_GC_PERCENT, value, n);
        msg_put(m, "expected an integer from 1 to 100000, or off");
        return -1;
    }
    return 0;
}

/* A path for the JSON leak report: absolute or relative, at most PATH_MAX - 1 bytes. */
static int
parse_gc_report(struct gr_config *cfg, const char *value, struct msg *m)
{
    size_t n = str_len(value);

    if (n >= 4096) {
        msg_put_head(m, VAR_GC_REPORT, value, n);
        msg_put(m, "expected a file path shorter than 4096 bytes");
        return -1;
    }
    cfg->gc_report = value;
    return 0;
}

static enum var_id
lookup_name(const char *name, size_t n)
{
    for (int id = 0; id < VAR_COUNT; id++) {
        if (span_is(name, n, var_names[id]))
            return (enum var_id)id;
    }
    return VAR_UNKNOWN;
}

int
gr_config_parse(struct gr_config *cfg, char *const *envp, char *err, size_t errlen)
{
    struct gr_config c = { 0 };
    bool seen[VAR_COUNT] = { false };
    struct msg m;
    int rc = 0;

    msg_init(&m, err, errlen);
    for (char *const *ep = envp; ep != NULL && *ep != NULL && rc == 0; ep++) {
        const char *entry = *ep;
        size_t nlen = 0;

        while (entry[nlen] != '\0' && entry[nlen] != '=')
            nlen++;
        if (!span_has_prefix(entry, nlen, "GREENRUN_"))
            continue;

        enum var_id id = lookup_name(entry, nlen);

        if (id == VAR_UNKNOWN) {
            msg_put(&m, "greenrun: ");
            msg_put_value(&m, entry, nlen);
            msg_put(&m, ": unknown variable; accepted: " ACCEPTED_VARIABLES);
            rc = -1;
            break;
        }
        /* An entry without '=' is invisible to getenv(); only its name is checked. */
        if (entry[nlen] != '=' || seen[id])
            continue;
        seen[id] = true;

        const char *value = entry + nlen + 1;

        if (value[0] == '\0')
            continue;
        switch (id) {
        case VAR_PROCS:
            rc = parse_procs(&c, value, &m);
            break;
        case VAR_STACK:
            rc = parse_stack(&c, value, &m);
            break;
        case VAR_DEBUG:
            rc = parse_debug(&c, value, &m);
            break;
        case VAR_MALLOC:
            rc = parse_malloc(&c, value, &m);
            break;
        case VAR_REPORT:
            c.report_path = value; /* envp outlives the program: the pointer stays good */
            break;
        case VAR_TRACE:
            rc = parse_trace(&c, value, &m);
            break;
        case VAR_QUIT:
            rc = parse_quit(&c, value, &m);
            break;
        case VAR_GC:
            rc = parse_gc(&c, value, &m);
            break;
        case VAR_GC_REPORT:
            rc = parse_gc_report(&c, value, &m);
            break;
        case VAR_GC_PERCENT:
            rc = parse_gc_percent(&c, value, &m);
            break;
        default:
            /* GREENRUN_TEST_MODE, GREENRUN_LIB: not the runtime's business. */
            break;
        }
    }
    if (rc == 0 && c.gc != GR_GC_OFF && c.malloc_system) {
        /* The leak check knows greenrun's heap only. */
        msg_put(&m, "greenrun: GREENRUN_GC=");
        msg_put(&m, c.gc == GR_GC_LEAK ? "leak" : "collect");
        msg_put(&m, " needs greenrun's allocator; accepted with GREENRUN_MALLOC=system: "
                    "GREENRUN_GC=off");
        rc = -1;
    }
    if (rc != 0) {
        /* Leave the caller with the defaults rather than a half-parsed configuration. */
        struct gr_config defaults = { 0 };

        *cfg = defaults;
        return -1;
    }
    *cfg = c;
    return 0;
}
