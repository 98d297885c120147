/*
 * bench/echo_client.c: the load generator for the echo macro benchmark.
 *
 * Usage: echo-client -p PORT -c CONNS [-d SECONDS] [-w WARMUP] [-s SIZE] [-P SERVER_PID]
 *                    [-T CONNECT_TIMEOUT] [-D WRITE_PCT]
 *
 * One thread and epoll drive CONNS connections to 127.0.0.1:PORT, so the client needs no thread
 * per connection and only the server under test is thread-per-connection. Each connection is a
 * closed loop: send a SIZE-byte request, wait for its echo, check every byte, send the next.
 * Connections are opened at most CONNECT_BURST at a time. Once all are up, the client runs
 * WARMUP seconds, then measures for SECONDS: requests completed in the window, their latency
 * (send of the first byte to receipt of the last), and how many each connection completed.
 * Latency percentiles cover completed requests only, so the client also reports the starved
 * connections (none completed in the window) and the age of the oldest request in flight at
 * the window's end: a server that serves a few connections and starves the rest cannot hide.
 *
 * With -P it also samples the server's /proc/PID/status every 100 ms (peak Threads, VmHWM),
 * reads its CPU time (/proc/PID/stat utime + stime) at the window's two ends, and names the
 * preloaded runtime or allocator mapped into it (/proc/PID/maps), so that a greenrun run that
 * ran without greenrun is caught.
 *
 * -D speaks the database-shaped workload's protocol (bench/dbproto.h) to bench/db_server.c
 * instead of echo: every request names a pseudo-random key of the table and is a write with
 * probability WRITE_PCT percent, else a read; the response must repeat the request's header
 * and carry the key's row. The size is then DBP_MSG and the rest works as for echo.
 *
 * Prints one JSON object on stdout. A connection that fails, closes, or echoes wrong bytes makes
 * the whole run fail: {"ok": false, "error": "..."} and exit status 1.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dbproto.h"
#include "util.h"

#define CONNECT_BURST 256 /* connects in flight at once */
#define SAMPLE_NS     100000000LL
#define MAX_SIZE      4096
#define MAX_EVENTS    1024

enum conn_state {
    C_NEW,
    C_CONNECTING,
    C_SENDING,   /* part of the request is still to be written */
    C_RECEIVING, /* request written; waiting for the whole echo */
};

struct conn {
    int fd;
    enum conn_state state;
    uint32_t woff; /* request bytes written */
    uint32_t roff; /* response bytes read */
    uint64_t seq;  /* current request's sequence number */
    int64_t sent_at;
    long in_window; /* requests completed inside the measurement window */
};

static struct {
    int port;
    int nconns;
    double duration;
    double warmup;
    int size;
    pid_t server;
    double connect_timeout;
    int db_write_pct; /* -D; -1 for echo */
} opt = { 0, 100, 5.0, 1.0, 64, 0, 60.0, -1 };

static struct conn *conns;
static unsigned char *rbufs; /* nconns * size bytes: each connection's partial response */
static int epfd;
static int64_t *lat; /* latencies (ns) of the requests completed in the window */
static size_t nlat, caplat;
static long peak_threads = -1;
static long peak_rss_kb = -1;

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    for (char *p = msg; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = '\'';
    }
    printf("{\"ok\": false, \"error\": \"%s\"}\n", msg);
    fflush(stdout);
    exit(1);
}

/* The request for (connection, sequence number); its echo must be identical. */
static void
make_request(unsigned char *buf, uint32_t id, uint64_t seq)
{
    memcpy(buf, &id, sizeof(id));
    memcpy(buf + 4, &seq, sizeof(seq));
    for (int i = 12; i < opt.size; i++)
        buf[i] = (unsigned char)(id * 31 + seq * 7 + (uint64_t)i);
    if (opt.db_write_pct < 0)
        return;
    uint64_t h = ((uint64_t)id << 32 | (uint32_t)seq) * 0x9e3779b97f4a7c15ULL;
    uint32_t key = (uint32_t)(h >> 32) % DBP_ROWS;
    memcpy(buf + DBP_KEY_OFF, &key, sizeof(key));
    buf[DBP_OP_OFF] = (int)((h >> 8) % 100) < opt.db_write_pct ? DBP_OP_WRITE : DBP_OP_READ;
}

/* The response the server must send to request (id, seq). */
static void
make_response(unsigned char *buf, uint32_t id, uint64_t seq)
{
    make_request(buf, id, seq);
    if (opt.db_write_pct < 0)
        return;
    uint32_t key;
    memcpy(&key, buf + DBP_KEY_OFF, sizeof(key));
    for (int i = DBP_HDR; i < DBP_MSG; i++)
        buf[i] = dbp_row_byte(key, i);
}

static void
sample_server(void)
{
    if (opt.server == 0)
        return;
    long threads = bu_proc_status(opt.server, "Threads");
    long hwm = bu_proc_status(opt.server, "VmHWM");
    if (threads < 0)
        fail("server pid %d is gone", (int)opt.server);
    if (threads > peak_threads)
        peak_threads = threads;
    if (hwm > peak_rss_kb)
        peak_rss_kb = hwm;
}

/* Which of the interesting preloaded libraries are mapped into process pid ("none" if none). */
static void
mapped_libraries(pid_t pid, char *out, size_t len)
{
    static const char *const libs[] = { "libgreenrun", "libjemalloc", "libmimalloc" };
    enum { NLIBS = sizeof(libs) / sizeof(libs[0]) };
    char path[64], line[512];
    int found[NLIBS] = { 0 };

    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        for (int i = 0; i < NLIBS; i++) {
            if (strstr(line, libs[i]) != NULL)
                found[i] = 1;
        }
    }
    if (f != NULL)
        fclose(f);
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < NLIBS; i++) {
        if (found[i] && used < len)
            used += (size_t)snprintf(out + used, len - used, "%s%s", used ? "," : "", libs[i]);
    }
    if (out[0] == '\0')
        snprintf(out, len, "none");
}

static void
set_events(uint32_t id, uint32_t events, int op)
{
    struct epoll_event ev = { .events = events, .data.u32 = id };

    if (epoll_ctl(epfd, op, conns[id].fd, &ev) != 0)
        fail("epoll_ctl: %s", strerror(errno));
}

/* Write what is left of connection id's request. */
static void
send_more(uint32_t id)
{
    struct conn *c = &conns[id];
    unsigned char req[MAX_SIZE];

    make_request(req, id, c->seq);
    while (c->woff < (uint32_t)opt.size) {
        ssize_t n = write(c->fd, req + c->woff, (size_t)opt.size - c->woff);
        if (n > 0) {
            c->woff += (uint32_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            if (c->state != C_SENDING)
                set_events(id, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
            c->state = C_SENDING;
            return;
        } else if (n < 0 && errno != EINTR) {
            fail("connection %u: write: %s", id, strerror(errno));
        }
    }
    if (c->state == C_SENDING)
        set_events(id, EPOLLIN, EPOLL_CTL_MOD);
    c->state = C_RECEIVING;
}

static void
start_request(uint32_t id, int64_t now)
{
    struct conn *c = &conns[id];

    c->woff = 0;
    c->roff = 0;
    c->sent_at = now;
    send_more(id);
}

static void
start_connect(uint32_t id)
{
    struct conn *c = &conns[id];
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
    int one = 1;

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        fail("socket for connection %u: %s", id, strerror(errno));
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 && errno != EINPROGRESS)
        fail("connect %u: %s", id, strerror(errno));
    c->state = C_CONNECTING;
    set_events(id, EPOLLOUT, EPOLL_CTL_ADD);
}

static void
record_latency(int64_t ns)
{
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 1 << 16;
        lat = realloc(lat, caplat * sizeof(*lat));
        if (lat == NULL)
            fail("out of memory for latency samples");
    }
    lat[nlat++] = ns;
}

int
main(int argc, char **argv)
{
    int o;

    while ((o = getopt(argc, argv, "p:c:d:w:s:P:T:D:")) != -1) {
        switch (o) {
        case 'p':
            opt.port = atoi(optarg);
            break;
        case 'c':
            opt.nconns = atoi(optarg);
            break;
        case 'd':
            opt.duration = atof(optarg);
            break;
        case 'w':
            opt.warmup = atof(optarg);
            break;
        case 's':
            opt.size = atoi(optarg);
            break;
        case 'P':
            opt.server = (pid_t)atoi(optarg);
            break;
        case 'T':
            opt.connect_timeout = atof(optarg);
            break;
        case 'D':
            opt.db_write_pct = atoi(optarg);
            opt.size = DBP_MSG;
            break;
        default:
            fprintf(stderr, "usage: echo-client -p PORT -c CONNS [-d S] [-w S] [-s SIZE] "
                            "[-P PID] [-T S] [-D WRITE_PCT]\n");
            return 2;
        }
    }
    if (opt.port <= 0 || opt.nconns <= 0 || opt.size < 12 || opt.size > MAX_SIZE)
        fail("bad arguments: need -p PORT, -c CONNS > 0 and 12 <= -s SIZE <= %d", MAX_SIZE);
    if (opt.db_write_pct > 100 || (opt.db_write_pct >= 0 && opt.size != DBP_MSG))
        fail("bad arguments: -D takes a percentage 0..100 and the size %d", DBP_MSG);
    signal(SIGPIPE, SIG_IGN);

    conns = calloc((size_t)opt.nconns, sizeof(*conns));
    rbufs = malloc((size_t)opt.nconns * (size_t)opt.size);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (conns == NULL || rbufs == NULL || epfd < 0)
        fail("setup: %s", strerror(errno));

    int64_t start = bu_now_ns();
    int64_t connect_deadline = start + (int64_t)(opt.connect_timeout * 1e9);
    int64_t all_up = 0, win_start = 0, win_end = 0;
    int64_t cpu0 = -1, cpu1 = -1;
    int64_t next_sample = start;
    int next_connect = 0, inflight = 0, connected = 0;
    struct epoll_event events[MAX_EVENTS];
    unsigned char expect[MAX_SIZE];
    struct rusage ru0, ru1;

    for (;;) {
        int64_t now = bu_now_ns();
        if (now >= next_sample) {
            sample_server();
            next_sample = now + SAMPLE_NS;
        }
        while (inflight < CONNECT_BURST && next_connect < opt.nconns) {
            start_connect((uint32_t)next_connect++);
            inflight++;
        }
        if (all_up == 0 && now > connect_deadline)
            fail("connect phase timed out: %d of %d connections up", connected, opt.nconns);
        if (all_up != 0 && win_start == 0 && now >= all_up + (int64_t)(opt.warmup * 1e9)) {
            win_start = now;
            win_end = now + (int64_t)(opt.duration * 1e9);
            cpu0 = opt.server ? bu_proc_cpu_us(opt.server) : -1;
            getrusage(RUSAGE_SELF, &ru0);
        }
        if (win_start != 0 && now >= win_end) {
            cpu1 = opt.server ? bu_proc_cpu_us(opt.server) : -1;
            getrusage(RUSAGE_SELF, &ru1);
            sample_server();
            break;
        }

        int64_t wake = next_sample;
        if (win_start != 0 && win_end < wake)
            wake = win_end;
        int timeout_ms = (int)((wake - now) / 1000000) + 1;
        int n = epoll_wait(epfd, events, MAX_EVENTS, timeout_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            uint32_t id = events[i].data.u32;
            struct conn *c = &conns[id];

            now = bu_now_ns();

            if (c->state == C_CONNECTING) {
                int err = 0;
                socklen_t len = sizeof(err);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0)
                    fail("connect %u: %s", id, strerror(err));
                if ((events[i].events & EPOLLOUT) == 0)
                    continue;
                inflight--;
                connected++;
                if (connected == opt.nconns)
                    all_up = now;
                c->state = C_RECEIVING;
                set_events(id, EPOLLIN, EPOLL_CTL_MOD);
                start_request(id, now);
                continue;
            }
            if ((events[i].events & EPOLLOUT) && c->state == C_SENDING)
                send_more(id);
            if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0)
                continue;
            unsigned char *rb = rbufs + (size_t)id * (size_t)opt.size;
            for (;;) {
                ssize_t got = read(c->fd, rb + c->roff, (size_t)opt.size - c->roff);
                if (got == 0)
                    fail("connection %u: server closed it", id);
                if (got < 0) {
                    if (errno == EAGAIN)
                        break;
                    if (errno == EINTR)
                        continue;
                    fail("connection %u: read: %s", id, strerror(errno));
                }
                c->roff += (uint32_t)got;
                if (c->roff < (uint32_t)opt.size)
                    continue;
                if (c->woff != (uint32_t)opt.size)
                    fail("connection %u: echo arrived before its request was sent", id);
                make_response(expect, id, c->seq);
                if (memcmp(expect, rb, (size_t)opt.size) != 0)
                    fail("connection %u: response to request %llu is not the expected one", id,
                         (unsigned long long)c->seq);
                if (win_start != 0 && now <= win_end) {
                    c->in_window++;
                    record_latency(now - c->sent_at);
                }
                c->seq++;
                start_request(id, now);
                break;
            }
        }
    }

    /*
     * Close with a reset (linger 0): no TIME_WAIT is left on the client's ports, so back-to-back
     * runs with thousands of connections never run out of ephemeral ports.
     */
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    for (int i = 0; i < opt.nconns; i++) {
        setsockopt(conns[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(conns[i].fd);
    }

    char preloaded[64] = "unknown";
    if (opt.server != 0)
        mapped_libraries(opt.server, preloaded, sizeof(preloaded));

    double window_s = (double)(win_end - win_start) / 1e9;
    long requests = (long)nlat;
    if (requests == 0)
        fail("no request completed in the %.1f s window", window_s);
    bu_sort_i64(lat, nlat);
    double sum = 0;
    for (size_t i = 0; i < nlat; i++)
        sum += (double)lat[i];
    long cmin = conns[0].in_window, cmax = conns[0].in_window;
    long starved = 0;
    int64_t oldest = 0;
    double s1 = 0, s2 = 0;
    for (int i = 0; i < opt.nconns; i++) {
        long x = conns[i].in_window;
        if (x == 0)
            starved++;
        /* Every connection has a request in flight; a starved one has waited since before. */
        if (win_end - conns[i].sent_at > oldest)
            oldest = win_end - conns[i].sent_at;
        if (x < cmin)
            cmin = x;
        if (x > cmax)
            cmax = x;
        s1 += (double)x;
        s2 += (double)x * (double)x;
    }
    double client_cpu_us = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) * 1e6 +
                           (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) +
                           (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e6 +
                           (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);

    printf("{\"ok\": true, \"conns\": %d, \"size\": %d, \"window_s\": %.3f, \"requests\": %ld, "
           "\"rps\": %.1f, ",
           opt.nconns, opt.size, window_s, requests, (double)requests / window_s);
    if (cpu0 >= 0 && cpu1 >= 0)
        printf("\"server_cpu_us_per_req\": %.3f, ", (double)(cpu1 - cpu0) / (double)requests);
    printf("\"client_cpu_us_per_req\": %.3f, ", client_cpu_us / (double)requests);
    printf("\"lat_p50_us\": %.1f, \"lat_p99_us\": %.1f, \"lat_mean_us\": %.1f, "
           "\"lat_max_us\": %.1f, ",
           (double)bu_quantile(lat, nlat, 0.50) / 1e3, (double)bu_quantile(lat, nlat, 0.99) / 1e3,
           sum / (double)nlat / 1e3, (double)lat[nlat - 1] / 1e3);
    printf("\"conn_min\": %ld, \"conn_max\": %ld, \"fairness_minmax\": %.4f, \"jain\": %.4f, ",
           cmin, cmax, cmax > 0 ? (double)cmin / (double)cmax : 0.0,
           s2 > 0 ? s1 * s1 / ((double)opt.nconns * s2) : 0.0);
    printf("\"starved_conns\": %ld, \"oldest_inflight_us\": %.1f, ", starved, (double)oldest / 1e3);
    printf("\"connect_s\": %.3f, \"server_peak_threads\": %ld, \"server_peak_rss_kb\": %ld, "
           "\"server_preloaded\": \"%s\"}\n",
           (double)(all_up - start) / 1e9, peak_threads, peak_rss_kb, preloaded);
    fflush(stdout);
    return 0;
}
