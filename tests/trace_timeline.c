/*
 * tests/trace_timeline.c: GREENRUN_TRACE writes a trace-event JSON timeline.
 *
 * The work ("trace_timeline work"): NPAIRS pairs of threads play ping-pong ROUNDS times over
 * a mutex and a condition variable (parks and readies, enough events for every M's buffer to
 * be flushed several times during the run), and each thread sleeps once (a timer) and passes
 * a byte through a pipe to its partner (the netpoller). main joins them all.
 *
 * Under greenrun the test runs the work again as a child with GREENRUN_TRACE set, then checks
 * the file: it is created mode 0600; it parses as one JSON array (a small validator below);
 * on every track (tid), in time order, the B and E events nest, with the same name, and none
 * is left open;
 * there are as many G create and exit events as threads the work made; some park carries its
 * reason and some ready names the G that readied; `greenrun trace summarize` (the launcher at
 * TRACE_LAUNCHER, tests/trace_timeline.conf) reads it. A second child with the same path finds
 * the file there and runs untraced with one line on stderr (O_EXCL); a malformed value stops
 * the child with status 2 and a message naming the variable; %p in the value names the file
 * after the child's process id. Natively the test runs the work and skips the file checks.
 */
#include "check.h"

#include <sys/stat.h>
#include <sys/wait.h>

#define NPAIRS   4
#define NTHREADS (2 * NPAIRS)
#define ROUNDS   3000

struct pair {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int turn; /* protected by mu: whose move, 0 or 1 */
    int fds[2];
};

struct player {
    struct pair *pair;
    int side;
};

static void *
play(void *arg)
{
    struct player *pl = arg;
    struct pair *pr = pl->pair;
    char c = 'x';

    usleep(1000);
    for (int i = 0; i < ROUNDS; i++) {
        CHECK_OK(pthread_mutex_lock(&pr->mu));
        while (pr->turn != pl->side)
            CHECK_OK(pthread_cond_wait(&pr->cv, &pr->mu));
        pr->turn = 1 - pl->side;
        CHECK_OK(pthread_cond_signal(&pr->cv));
        CHECK_OK(pthread_mutex_unlock(&pr->mu));
    }
    /* Side 1 waits for a byte from side 0: a read that parks until the write. */
    if (pl->side == 0)
        CHECK_EQ(write(pr->fds[1], &c, 1), 1);
    else
        CHECK_EQ(read(pr->fds[0], &c, 1), 1);
    return NULL;
}

static void
work(void)
{
    static struct pair pairs[NPAIRS];
    static struct player players[NTHREADS];
    pthread_t th[NTHREADS];

    for (int i = 0; i < NPAIRS; i++) {
        CHECK_OK(pthread_mutex_init(&pairs[i].mu, NULL));
        CHECK_OK(pthread_cond_init(&pairs[i].cv, NULL));
        CHECK_OK(pipe(pairs[i].fds));
    }
    for (int i = 0; i < NTHREADS; i++) {
        players[i].pair = &pairs[i / 2];
        players[i].side = i % 2;
        CHECK_OK(pthread_create(&th[i], NULL, play, &players[i]));
    }
    for (int i = 0; i < NTHREADS; i++)
        CHECK_OK(pthread_join(th[i], NULL));
}

/* ---- A JSON validator: true when s[*i..] starts with one value; *i moves past it. */

static void
skip_ws(const char *s, size_t *i)
{
    while (s[*i] == ' ' || s[*i] == '\n' || s[*i] == '\t' || s[*i] == '\r')
        (*i)++;
}

static int json_value(const char *s, size_t *i, int depth);

static int
json_string(const char *s, size_t *i)
{
    if (s[*i] != '"')
        return 0;
    for ((*i)++; s[*i] != '"'; (*i)++) {
        if ((unsigned char)s[*i] < 0x20)
            return 0;
        if (s[*i] == '\\') {
            (*i)++;
            if (s[*i] == 'u') {
                for (int k = 1; k <= 4; k++)
                    if (!strchr("0123456789abcdefABCDEF", s[*i + k]) || s[*i + k] == '\0')
                        return 0;
                *i += 4;
            } else if (s[*i] == '\0' || !strchr("\"\\/bfnrt", s[*i])) {
                return 0;
            }
        }
    }
    (*i)++;
    return 1;
}

static int
json_number(const char *s, size_t *i)
{
    size_t start = *i;

    if (s[*i] == '-')
        (*i)++;
    if (s[*i] < '0' || s[*i] > '9')
        return 0;
    if (s[*i] == '0' && s[*i + 1] >= '0' && s[*i + 1] <= '9')
        return 0; /* no leading zeros */
    while (s[*i] >= '0' && s[*i] <= '9')
        (*i)++;
    if (s[*i] == '.') {
        (*i)++;
        if (s[*i] < '0' || s[*i] > '9')
            return 0;
        while (s[*i] >= '0' && s[*i] <= '9')
            (*i)++;
    }
    return *i > start;
}

static int
json_value(const char *s, size_t *i, int depth)
{
    if (depth > 32)
        return 0;
    skip_ws(s, i);
    if (s[*i] == '{' || s[*i] == '[') {
        char close = s[*i] == '{' ? '}' : ']';
        int object = s[*i] == '{';
        (*i)++;
        skip_ws(s, i);
        if (s[*i] == close) {
            (*i)++;
            return 1;
        }
        for (;;) {
            if (object) {
                skip_ws(s, i);
                if (!json_string(s, i))
                    return 0;
                skip_ws(s, i);
                if (s[(*i)++] != ':')
                    return 0;
            }
            if (!json_value(s, i, depth + 1))
                return 0;
            skip_ws(s, i);
            if (s[*i] == close) {
                (*i)++;
                return 1;
            }
            if (s[(*i)++] != ',')
                return 0;
        }
    }
    if (s[*i] == '"')
        return json_string(s, i);
    if (strncmp(s + *i, "true", 4) == 0 || strncmp(s + *i, "null", 4) == 0) {
        *i += 4;
        return 1;
    }
    if (strncmp(s + *i, "false", 5) == 0) {
        *i += 5;
        return 1;
    }
    return json_number(s, i);
}

/* ---- Reading the runtime's lines (one event per line). */

static const char *
field(const char *line, const char *key)
{
    char pat[32];
    const char *p;

    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(line, pat);
    return p != NULL ? p + strlen(pat) : NULL;
}

static void
str_field(const char *line, const char *key, char *out, size_t cap)
{
    const char *p = field(line, key);
    size_t n = 0;

    out[0] = '\0';
    if (p == NULL || *p != '"')
        return;
    for (p++; *p != '"' && *p != '\0' && n + 1 < cap; p++)
        out[n++] = *p;
    out[n] = '\0';
}

#define MAXTID   256
#define MAXDEPTH 8

struct track {
    int depth;
    char open[MAXDEPTH][32];
};

/* A B or E line; the runtime may write an M's chunks out of order, so they are sorted by
 * track, then time, then position in the file, as a viewer orders them. */
struct slice_ev {
    int tid;
    double ts;
    long seq;
    char ph;
    char name[32];
};

static int
by_track_time(const void *a, const void *b)
{
    const struct slice_ev *x = a, *y = b;

    if (x->tid != y->tid)
        return x->tid - y->tid;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static char *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t cap = 0, n = 0, r;

    CHECK(f != NULL);
    do {
        if (n + 65536 > cap) {
            cap = cap * 2 + 65536;
            buf = realloc(buf, cap + 1);
            CHECK(buf != NULL);
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void
check_trace(const char *path)
{
    static struct track tracks[MAXTID];
    size_t len, i = 0;
    char *text = read_file(path, &len);
    int creates = 0, exits = 0, starts = 0, parks_with_reason = 0, readies_by_g = 0;
    struct slice_ev *sl = calloc(len / 40 + 1, sizeof(*sl)); /* a line is longer than 40 */
    size_t nsl = 0;
    struct stat st;

    CHECK(sl != NULL);
    CHECK_OK(stat(path, &st));
    CHECK_EQ(st.st_mode & 0777, 0600);
    CHECK(json_value(text, &i, 0));
    skip_ws(text, &i);
    CHECK_EQ(i, len); /* one array, nothing after it */
    CHECK(text[0] == '[');

    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char ph[4], name[32], why[32];
        const char *tidp = field(line, "tid");
        int tid;

        if (line[0] != '{')
            continue;
        CHECK(tidp != NULL);
        tid = atoi(tidp);
        CHECK(tid >= 0 && tid < MAXTID);
        str_field(line, "ph", ph, sizeof ph);
        str_field(line, "name", name, sizeof name);
        if (ph[0] == 'B' || ph[0] == 'E') {
            CHECK(field(line, "ts") != NULL);
            sl[nsl].tid = tid;
            sl[nsl].ts = strtod(field(line, "ts"), NULL);
            sl[nsl].seq = (long)nsl;
            sl[nsl].ph = ph[0];
            snprintf(sl[nsl].name, sizeof sl[nsl].name, "%s", name);
            nsl++;
        }
        if (ph[0] == 'B') {
            starts += name[0] == 'G';
        } else if (ph[0] == 'E') {
            str_field(line, "why", why, sizeof why);
            if (strcmp(why, "park") == 0 && field(line, "reason") != NULL)
                parks_with_reason++;
        } else if (strcmp(name, "create") == 0) {
            creates++;
        } else if (strcmp(name, "exit") == 0) {
            exits++;
        } else if (strcmp(name, "ready") == 0) {
            const char *by = field(line, "by");
            readies_by_g += by != NULL && atoi(by) != 0;
        }
    }
    qsort(sl, nsl, sizeof(*sl), by_track_time);
    for (size_t k = 0; k < nsl; k++) {
        struct track *t = &tracks[sl[k].tid];
        if (sl[k].ph == 'B') {
            CHECK(t->depth < MAXDEPTH);
            snprintf(t->open[t->depth++], sizeof t->open[0], "%s", sl[k].name);
            continue;
        }
        CHECK(t->depth > 0);
        if (strcmp(t->open[t->depth - 1], sl[k].name) != 0) {
            fprintf(stderr, "track %d at %.3f: E %s closes B %s\n", sl[k].tid, sl[k].ts, sl[k].name,
                    t->open[t->depth - 1]);
            CHECK(0);
        }
        t->depth--;
    }
    for (int t = 0; t < MAXTID; t++)
        CHECK_EQ(tracks[t].depth, 0);
    free(sl);
    CHECK_EQ(creates, NTHREADS);
    CHECK_EQ(exits, NTHREADS);
    CHECK(starts >= NTHREADS);
    CHECK(parks_with_reason > 0);
    CHECK(readies_by_g > 0);
    fprintf(stderr, "trace: %d run slices, %d parks with a reason, %d readies by a G\n", starts,
            parks_with_reason, readies_by_g);
    free(text);
}

/* ---- Children. */

static pid_t last_child; /* the process run() started last */

/* Run argv with GREENRUN_TRACE=trace added to the environment; its stderr (and stdout when
 * out_too) goes to out. Returns its exit status. */
static int
run(char *const argv[], const char *trace, int out_too, char *out, size_t size)
{
    int p[2], status;
    pid_t pid;

    CHECK_OK(pipe(p));
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        if (out_too)
            dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        if (trace != NULL)
            setenv("GREENRUN_TRACE", trace, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    last_child = pid;
    read_all(p[0], out, size);
    close(p[0]);
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    fprintf(stderr, "--- %s: output ---\n%s--- end ---\n", argv[0], out);
    CHECK(WIFEXITED(status));
    return WEXITSTATUS(status);
}

int
main(int argc, char **argv)
{
    const char *mode = getenv("GREENRUN_TEST_MODE");
    const char *launcher = getenv("TRACE_LAUNCHER");
    char dir[] = "/tmp/greenrun-trace-XXXXXX", path[128], bad[160], out[16384];
    char *self[] = { (char *)"/proc/self/exe", (char *)"work", NULL };
    struct stat st;

    if (argc > 1 && strcmp(argv[1], "work") == 0) {
        work();
        return 0;
    }
    if (mode == NULL || strcmp(mode, "green") != 0) {
        work();
        puts("trace_timeline: ok (native: no trace file to check)");
        return 0;
    }
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/trace.json", dir);

    CHECK_EQ(run(self, path, 0, out, sizeof out), 0);
    check_trace(path);

    /* The summary reads it. */
    CHECK(launcher != NULL);
    char *sum[] = { (char *)launcher, (char *)"trace", (char *)"summarize", path, NULL };
    CHECK_EQ(run(sum, NULL, 1, out, sizeof out), 0);
    CHECK(strstr(out, "scheduling latency") != NULL);
    CHECK(strstr(out, "8 created, 8 exited") != NULL);

    /* O_EXCL: the file is there; the child runs untraced and says why, the file is kept. */
    CHECK_OK(stat(path, &st));
    CHECK_EQ(run(self, path, 0, out, sizeof out), 0);
    CHECK(strstr(out, "GREENRUN_TRACE=") != NULL && strstr(out, "the file exists") != NULL);
    struct stat again;
    CHECK_OK(stat(path, &again));
    CHECK_EQ(again.st_size, st.st_size);

    /* A malformed value: status 2 and a message naming the variable and the value. */
    snprintf(bad, sizeof bad, "%s/t%%q.json", dir);
    CHECK_EQ(run(self, bad, 0, out, sizeof out), 2);
    CHECK(strstr(out, "GREENRUN_TRACE=\"") != NULL && strstr(out, "%q") != NULL);

    /* %p names the file after the process: the trace of a process that execs is its own. */
    char pattern[160], named[160];
    snprintf(pattern, sizeof pattern, "%s/t.%%p.json", dir);
    CHECK_EQ(run(self, pattern, 0, out, sizeof out), 0);
    snprintf(named, sizeof named, "%s/t.%d.json", dir, (int)last_child);
    check_trace(named);

    unlink(named);
    unlink(path);
    rmdir(dir);
    puts("trace_timeline: ok");
    return 0;
}
