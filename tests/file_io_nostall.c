/* tests/file_io_nostall.c
 * Behaviour: a thread doing regular-file I/O does not stall the others: while one thread writes
 * a 64 MB file in 1 MB write() calls, fsync()s it, reads it back with read() and pread()
 * checking every byte, and unlinks it (in a mkdtemp directory under /tmp), a second thread
 * sleeping 1 ms at a time keeps ticking, even with GREENRUN_PROCS=1; so it does for 300 ms
 * while the main thread waits in waitpid for a child (which exits when told to, once those
 * 300 ms are counted). The ticks are counted over the write()s, the fsync()s and the read()s
 * with pread()s, each phase apart (each repeated until its calls add up to 300 ms), and over
 * the whole file work: at least TICKS_MIN (tests/check.h) in each.
 */
#include "check.h"

#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define CHUNK  (1L << 20)
#define CHUNKS 64

/*
 * A phase of the file work is done in rounds (the whole file written, synced or read once)
 * until its calls add up to PHASE_NS: the ticks are counted over each round's calls and
 * summed, so each phase is judged over a long window however fast the disk is. 300 ms, as
 * long as the blocks other tests measure: each fsync() of 64 MB lasts only about 25 ms here,
 * and on a loaded machine the processor is handed on some milliseconds into each call, so
 * 100 ms of fsync()s gave as few as 14 ticks.
 */
#define PHASE_NS (3 * TICK_WINDOW_NS)

static void
phase_round(struct tick_window *sum, struct tick_window round)
{
    tick_window_add(sum, tick_window_since(round));
}

/*
 * The file's contents: every 4 KB page starts with its own offset (8 bytes) and goes on with
 * the same page of a fixed pseudo-random template. Writing stamps the offsets into one buffer;
 * checking is a compare and a memcmp per page.
 */
#define PAGE 4096
static unsigned char template_page[PAGE];

static void
make_template(void)
{
    uint32_t x = 2463534242u;
    for (int i = 0; i < PAGE; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        template_page[i] = (unsigned char)x;
    }
}

static void
stamp(unsigned char *buf, long long off, long len)
{
    for (long p = 0; p < len; p += PAGE) {
        long long at = off + p;
        memcpy(buf + p, &at, sizeof at);
    }
}

/*
 * Check len bytes read from file offset off (both multiples of PAGE): the stamps only, or
 * (full) every byte. The timed passes check stamps only, so that they time the calls and not
 * memcmp, which runs in libc where the runtime does not preempt.
 */
static void
check_pages(const unsigned char *buf, long long off, long len, int full)
{
    for (long p = 0; p < len; p += PAGE) {
        long long at;
        memcpy(&at, buf + p, sizeof at);
        if (at != off + p || (full && memcmp(buf + p + sizeof at, template_page + sizeof at,
                                             PAGE - sizeof at) != 0)) {
            fprintf(stderr, "page at offset %lld differs from what was written (stamp %lld)\n",
                    off + p, at);
            CHECK(0);
        }
    }
}

static void
pread_full(int fd, void *buf, size_t len, off_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
        CHECK(r > 0);
        got += (size_t)r;
    }
}

/* Write the whole file from its start in CHUNKS write()s of 1 MB; the calls count in *sum. */
static void
write_file(int fd, unsigned char *buf, struct tick_window *sum)
{
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    struct tick_window w = tick_window_open();
    for (long c = 0; c < CHUNKS; c++) {
        stamp(buf, c * CHUNK, CHUNK);
        write_full(fd, buf, CHUNK);
    }
    phase_round(sum, w);
}

/* Read it back from the start with read(), then every chunk from the end with pread(). */
static void
read_file(int fd, unsigned char *buf, struct tick_window *sum)
{
    struct tick_window w = tick_window_open();
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    for (long c = 0; c < CHUNKS; c++) {
        read_full(fd, buf, CHUNK);
        check_pages(buf, c * CHUNK, CHUNK, 0);
    }
    char c1;
    CHECK_EQ(read(fd, &c1, 1), 0);
    for (long c = CHUNKS - 1; c >= 0; c--) {
        pread_full(fd, buf, CHUNK, (off_t)(c * CHUNK));
        check_pages(buf, c * CHUNK, CHUNK, 0);
    }
    phase_round(sum, w);
}

/* fsync()s of a rewritten file are tried this many times to add up to PHASE_NS; a file system
 * that syncs faster (tmpfs) has nothing to stall on. */
#define SYNC_ROUNDS_MAX 32

static void *
file_worker(void *arg)
{
    (void)arg;
    struct tick_window writes = { 0, 0 }, sync = { 0, 0 }, reads = { 0, 0 };
    char dir[] = "/tmp/greenrun-file-io-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/data", dir);
    unsigned char *buf = malloc(CHUNK);
    CHECK(buf != NULL);
    make_template();
    for (long p = 0; p < CHUNK; p += PAGE)
        memcpy(buf + p, template_page, PAGE);

    struct tick_window all = tick_window_open();
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    int write_rounds = 0, sync_rounds = 0, read_rounds = 0;
    do {
        write_file(fd, buf, &writes);
        write_rounds++;
    } while (writes.ns < PHASE_NS);
    /* Each fsync() needs dirty pages: the file is written again before each but the first. */
    do {
        if (sync_rounds > 0) {
            write_file(fd, buf, &writes);
            write_rounds++;
        }
        struct tick_window w = tick_window_open();
        CHECK_OK(fsync(fd));
        phase_round(&sync, w);
        sync_rounds++;
    } while (sync.ns < PHASE_NS && sync_rounds < SYNC_ROUNDS_MAX);
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, CHUNK * CHUNKS);
    do {
        read_file(fd, buf, &reads);
        read_rounds++;
    } while (reads.ns < PHASE_NS);

    /* Every byte, then pieces that straddle chunk borders. */
    for (long c = 0; c < CHUNKS; c++) {
        pread_full(fd, buf, CHUNK, (off_t)(c * CHUNK));
        check_pages(buf, c * CHUNK, CHUNK, 1);
    }
    for (long c = 1; c < CHUNKS; c++) {
        long long off = c * CHUNK - PAGE * (c * 7 % 64 + 1);
        pread_full(fd, buf, 64 * PAGE, (off_t)off);
        check_pages(buf, off, 64 * PAGE, 1);
    }
    CHECK_OK(close(fd));
    CHECK_OK(unlink(path));
    CHECK_OK(rmdir(dir));
    struct tick_window whole = tick_window_since(all);

    /* Each phase on its own: a long fsync must not cover for write()s that stall. */
    fprintf(stderr, "rounds: %d of 64 write()s, %d fsync()s, %d of read()s and pread()s\n",
            write_rounds, sync_rounds, read_rounds);
    check_ticked(writes, "write()s of 1 MB");
    if (sync.ns >= TICK_WINDOW_NS)
        check_ticked(sync, "fsync()s");
    else
        fprintf(stderr, "fsync()s: %lld ms in %d rounds, too quick to judge\n", sync.ns / 1000000,
                sync_rounds);
    check_ticked(reads, "read()s and pread()s of 64 MB");
    check_ticked(whole, "the file work in all, full checks included");
    free(buf);
    return NULL;
}

/* The main thread, about to wait for the child. */
static struct blocker main_blocked;
static int go_pipe[2];

/* Once main sleeps in waitpid, count the ticks over 300 ms, then let the child exit. */
static void *
child_releaser(void *arg)
{
    (void)arg;
    wait_blocked(&main_blocked, SYS_wait4, NULL);
    struct tick_window w = tick_window_open();
    sleep_ns(300000000);
    check_ticked(tick_window_since(w), "waitpid");
    CHECK_EQ(write(go_pipe[1], "g", 1), 1);
    return NULL;
}

int
main(void)
{
    ticker_start();
    check_green_threads(2);

    pthread_t w = spawn(file_worker, NULL);
    join_within(w, 50);

    /* waitpid on a child that exits once told to. */
    CHECK_OK(pipe(go_pipe));
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char go;
        _exit(read(go_pipe[0], &go, 1) == 1 ? 9 : 1);
    }
    pthread_t r = spawn(child_releaser, NULL);
    blocker_here(&main_blocked, "the main thread");
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 9);
    join_within(r, 10);

    ticker_stop();
    return 0;
}
