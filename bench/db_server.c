/*
 * bench/db_server.c: a database-shaped thread-per-connection server, the db macro workload.
 *
 * Usage: db-server [-p PORT] [-d DIR]
 * Listens on 127.0.0.1:PORT (0, the default, picks a free port), prints "port N" on stdout
 * once it accepts, and runs until killed. Its table lives in a file created in DIR ($TMPDIR,
 * else /tmp) and unlinked at once, so nothing is left behind however the server ends.
 *
 * Every connection gets its own thread, which waits for a request with poll() (a 1 s timeout,
 * after which it polls again: an idle keep-alive connection), reads the DBP_MSG-byte request
 * (bench/dbproto.h) with recv() and runs it as a small transaction. Between those short socket
 * reads the threads meet where a database's threads meet:
 *   - the transaction table, a raw futex lock (syscall(SYS_futex)) every transaction takes at
 *     begin and at end to get its id and leave the active count: the server's hot lock;
 *   - page latches, raw futex locks (NLATCH of them, page number modulo NLATCH) held while a
 *     page is read into a frame with pread() and, for a write, its row written with pwrite();
 *   - the buffer pool, NFRAMES page frames behind a mutex and a condition variable: with more
 *     connections than frames, transactions wait for a free frame;
 *   - group commit: a write appends a record to the log buffer under the log mutex and waits
 *     on a condition variable until the log writer thread has written it to the file's log
 *     area with pwrite(); one write of the writer commits every record appended meanwhile.
 * The response repeats the request's header and carries the key's row as read from the file,
 * which the client checks byte for byte.
 *
 * Locks: trx_latch protects trx; latches[i] protect the table pages whose number is i modulo
 * NLATCH (the page's bytes in the file); pool.lock protects pool's free list; logbuf.lock
 * protects logbuf. Order: a frame is taken before a page latch; the log mutex is taken with
 * no other lock held.
 */
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dbproto.h"
#include "server.h"

#define PAGE_SIZE     4096
#define ROWS_PER_PAGE (PAGE_SIZE / DBP_ROW)
#define NPAGES        (DBP_ROWS / ROWS_PER_PAGE)
#define TABLE_BYTES   ((off_t)DBP_ROWS * DBP_ROW)
#define LOG_BYTES     (1 << 20) /* the log area after the table, written round and round */
#define LOG_BUF       65536
#define LOG_REC       32
#define NLATCH        64
#define NFRAMES       8
#define IDLE_POLL_MS  1000

static int table_fd;

/* A raw futex lock: 0 free, 1 held, 2 held with (possible) waiters. */
static void
latch_lock(atomic_int *l)
{
    int c = 0;

    if (atomic_compare_exchange_strong(l, &c, 1))
        return;
    if (c != 2)
        c = atomic_exchange(l, 2);
    while (c != 0) {
        syscall(SYS_futex, l, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
        c = atomic_exchange(l, 2);
    }
}

static void
latch_unlock(atomic_int *l)
{
    if (atomic_exchange(l, 0) == 2)
        syscall(SYS_futex, l, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static atomic_int trx_latch;
static struct {
    uint64_t next_id; /* protected by trx_latch */
    long active;      /* protected by trx_latch */
} trx;

static atomic_int latches[NLATCH];

static struct {
    pthread_mutex_t lock;
    pthread_cond_t freed; /* signalled when a frame goes back on the free list */
    char *free[NFRAMES];  /* protected by lock */
    int nfree;            /* protected by lock */
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER, .freed = PTHREAD_COND_INITIALIZER };

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work;    /* signalled when a record is appended */
    pthread_cond_t flushed; /* broadcast when the writer has written records to the file */
    char buf[LOG_BUF];      /* protected by lock */
    size_t used;            /* protected by lock */
    uint64_t appended;      /* protected by lock: records appended so far */
    uint64_t durable;       /* protected by lock: records written to the file so far */
} logbuf = { .lock = PTHREAD_MUTEX_INITIALIZER,
             .work = PTHREAD_COND_INITIALIZER,
             .flushed = PTHREAD_COND_INITIALIZER };

static uint64_t
trx_begin(void)
{
    latch_lock(&trx_latch);
    uint64_t id = ++trx.next_id;
    trx.active++;
    latch_unlock(&trx_latch);
    return id;
}

static void
trx_end(void)
{
    latch_lock(&trx_latch);
    trx.active--;
    latch_unlock(&trx_latch);
}

static char *
frame_get(void)
{
    pthread_mutex_lock(&pool.lock);
    while (pool.nfree == 0)
        pthread_cond_wait(&pool.freed, &pool.lock);
    char *f = pool.free[--pool.nfree];
    pthread_mutex_unlock(&pool.lock);
    return f;
}

static void
frame_put(char *f)
{
    pthread_mutex_lock(&pool.lock);
    pool.free[pool.nfree++] = f;
    pthread_cond_signal(&pool.freed);
    pthread_mutex_unlock(&pool.lock);
}

/* Append a commit record and wait until the log writer has written it. */
static void
log_commit(uint64_t trx_id, uint32_t key)
{
    char rec[LOG_REC] = { 0 };

    memcpy(rec, &trx_id, sizeof(trx_id));
    memcpy(rec + 8, &key, sizeof(key));
    pthread_mutex_lock(&logbuf.lock);
    while (logbuf.used + LOG_REC > LOG_BUF)
        pthread_cond_wait(&logbuf.flushed, &logbuf.lock);
    memcpy(logbuf.buf + logbuf.used, rec, LOG_REC);
    logbuf.used += LOG_REC;
    uint64_t mine = ++logbuf.appended;
    pthread_cond_signal(&logbuf.work);
    while (logbuf.durable < mine)
        pthread_cond_wait(&logbuf.flushed, &logbuf.lock);
    pthread_mutex_unlock(&logbuf.lock);
}

static void *
log_writer(void *arg)
{
    static char out[LOG_BUF];
    off_t pos = 0;

    (void)arg;
    pthread_mutex_lock(&logbuf.lock);
    for (;;) {
        while (logbuf.used == 0)
            pthread_cond_wait(&logbuf.work, &logbuf.lock);
        size_t n = logbuf.used;
        uint64_t upto = logbuf.appended;
        memcpy(out, logbuf.buf, n);
        logbuf.used = 0;
        pthread_mutex_unlock(&logbuf.lock);

        if (pos + (off_t)n > LOG_BYTES)
            pos = 0;
        if (pwrite(table_fd, out, n, TABLE_BYTES + pos) != (ssize_t)n) {
            perror("db-server: log pwrite");
            exit(1);
        }
        pos += (off_t)n;

        pthread_mutex_lock(&logbuf.lock);
        logbuf.durable = upto;
        pthread_cond_broadcast(&logbuf.flushed);
    }
    return NULL;
}

/* Run one request; fills resp; 0, or -1 when the request is malformed. */
static int
transact(const unsigned char *req, unsigned char *resp)
{
    uint32_t key;
    unsigned char op = req[DBP_OP_OFF];

    memcpy(&key, req + DBP_KEY_OFF, sizeof(key));
    if (key >= DBP_ROWS || (op != DBP_OP_READ && op != DBP_OP_WRITE))
        return -1;
    uint32_t page = key / ROWS_PER_PAGE;
    uint64_t id = trx_begin();
    char *frame = frame_get();
    atomic_int *latch = &latches[page % NLATCH];

    latch_lock(latch);
    if (pread(table_fd, frame, PAGE_SIZE, (off_t)page * PAGE_SIZE) != PAGE_SIZE) {
        perror("db-server: pread");
        exit(1);
    }
    char *row = frame + (key % ROWS_PER_PAGE) * DBP_ROW;
    if (op == DBP_OP_WRITE) {
        /* An update that rewrites the row with its value (see dbproto.h). */
        for (int i = 0; i < DBP_ROW; i++)
            row[i] = (char)dbp_row_byte(key, i);
        if (pwrite(table_fd, row, DBP_ROW, (off_t)key * DBP_ROW) != DBP_ROW) {
            perror("db-server: pwrite");
            exit(1);
        }
    }
    memcpy(resp, req, DBP_HDR);
    memcpy(resp + DBP_HDR, row + DBP_HDR, DBP_MSG - DBP_HDR);
    latch_unlock(latch);
    frame_put(frame);
    if (op == DBP_OP_WRITE)
        log_commit(id, key);
    trx_end();
    return 0;
}

/* Read exactly n bytes; 1 when done, 0 at end of file or on an error. */
static int
recv_all(int fd, unsigned char *buf, size_t n)
{
    size_t off = 0;

    while (off < n) {
        ssize_t r = recv(fd, buf + off, n - off, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        off += (size_t)r;
    }
    return 1;
}

static int
send_all(int fd, const unsigned char *buf, size_t n)
{
    size_t off = 0;

    while (off < n) {
        ssize_t w = send(fd, buf + off, n - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

static void *
serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    unsigned char req[DBP_MSG], resp[DBP_MSG];

    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int ready = poll(&pfd, 1, IDLE_POLL_MS);
        if (ready == 0 || (ready < 0 && errno == EINTR))
            continue;
        if (ready < 0 || !recv_all(fd, req, DBP_MSG))
            break;
        if (transact(req, resp) != 0 || send_all(fd, resp, DBP_MSG) != 0)
            break;
    }
    close(fd);
    return NULL;
}

/* Create the table file, unlinked, with every row written; exits on failure. */
static void
create_table(const char *dir)
{
    char path[4096];
    static char page[PAGE_SIZE];

    snprintf(path, sizeof(path), "%s/db-server.XXXXXX", dir);
    table_fd = mkstemp(path);
    if (table_fd < 0) {
        fprintf(stderr, "db-server: cannot create a table file in %s: %s\n", dir, strerror(errno));
        exit(1);
    }
    unlink(path);
    for (uint32_t p = 0; p < NPAGES; p++) {
        for (int r = 0; r < ROWS_PER_PAGE; r++) {
            for (int i = 0; i < DBP_ROW; i++)
                page[r * DBP_ROW + i] = (char)dbp_row_byte(p * ROWS_PER_PAGE + (uint32_t)r, i);
        }
        if (pwrite(table_fd, page, PAGE_SIZE, (off_t)p * PAGE_SIZE) != PAGE_SIZE) {
            perror("db-server: writing the table");
            exit(1);
        }
    }
    if (ftruncate(table_fd, TABLE_BYTES + LOG_BYTES) != 0) {
        perror("db-server: ftruncate");
        exit(1);
    }
}

int
main(int argc, char **argv)
{
    int port = 0, opt;
    const char *dir = getenv("TMPDIR");

    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    while ((opt = getopt(argc, argv, "p:d:")) != -1) {
        if (opt == 'p') {
            port = atoi(optarg);
        } else if (opt == 'd') {
            dir = optarg;
        } else {
            fprintf(stderr, "usage: db-server [-p PORT] [-d DIR]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    create_table(dir);
    static char frames[NFRAMES][PAGE_SIZE];
    for (int i = 0; i < NFRAMES; i++)
        pool.free[pool.nfree++] = frames[i];

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t tid;
    int err = pthread_create(&tid, &attr, log_writer, NULL);
    if (err != 0) {
        fprintf(stderr, "db-server: pthread_create: %s\n", strerror(err));
        return 1;
    }

    int ls = srv_listen("db-server", port);
    if (ls < 0)
        return 1;

    int create_failures = 0;
    for (;;) {
        int fd = srv_accept("db-server", ls);
        if (fd < 0)
            return 1;
        err = pthread_create(&tid, &attr, serve, (void *)(intptr_t)fd);
        if (err != 0) {
            /* The client sees the connection close and reports the run as failed. */
            if (create_failures++ < 3)
                fprintf(stderr, "db-server: pthread_create: %s\n", strerror(err));
            close(fd);
        }
    }
}
