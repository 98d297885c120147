/* tests/file_io_nostall.c
 * Behaviour: a thread doing regular-file I/O does not stall the others: while one thread writes
 * a 64 MB file in 1 MB write() calls, fsync()s it, reads it back with read() and pread()
 * checking every byte, and unlinks it (in a mkdtemp directory under /tmp), a second thread
 * sleeping 1 ms at a time keeps ticking, even with GREENRUN_PROCS=1; so it does while the main
 * thread waits in waitpid for a child that sleeps 300 ms. The ticks are counted over the
 * write()s, the fsync() and the read()s with pread()s, each phase apart, and over the whole
 * file work: at least a quarter of the elapsed milliseconds in each.
 */
#include "check.h"

#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define CHUNK (1L << 20)
#define CHUNKS 64


/* Ticks counted over a phase of the file work, and its length. */
struct phase {
    long ticks0;
    long long t0;
    long ticks;
    long long ns;
};

static void
phase_begin(struct phase *ph)
{
    ph->ticks0 = ticker_now();
    ph->t0 = now_ns(CLOCK_MONOTONIC);
}

static void
phase_end(struct phase *ph)
{
    ph->ns = now_ns(CLOCK_MONOTONIC) - ph->t0;
    ph->ticks = ticker_now() - ph->ticks0;
}

/* The ticker must have advanced during a phase: a quarter of the elapsed milliseconds (loose,
 * for a noisy machine) and at least min_ticks; a stalled processor gives none. */
static void
check_phase(const struct phase *ph, long min_ticks, const char *what)
{
    long long ms = ph->ns / 1000000;
    fprintf(stderr, "%s: %ld ticks of 1 ms in %lld ms\n", what, ph->ticks, ms);
    CHECK(ph->ticks >= ms / 4);
    CHECK(ph->ticks >= min_ticks);
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

static void *
file_worker(void *arg)
{
    (void)arg;
    struct phase all, writes, sync, reads;
    char dir[] = "/tmp/greenrun-file-io-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/data", dir);
    unsigned char *buf = malloc(CHUNK);
    CHECK(buf != NULL);
    make_template();
    for (long p = 0; p < CHUNK; p += PAGE)
        memcpy(buf + p, template_page, PAGE);

    phase_begin(&all);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    phase_begin(&writes);
    for (long c = 0; c < CHUNKS; c++) {
        stamp(buf, c * CHUNK, CHUNK);
        write_full(fd, buf, CHUNK);
    }
    phase_end(&writes);
    phase_begin(&sync);
    CHECK_OK(fsync(fd));
    phase_end(&sync);
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, CHUNK * CHUNKS);

    /* Back from the start with read(), then every chunk from the end with pread(). */
    phase_begin(&reads);
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
    phase_end(&reads);

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
    phase_end(&all);

    /* Each phase on its own: a long fsync must not cover for write()s that stall. */
    check_phase(&writes, 0, "64 write()s of 1 MB");
    check_phase(&sync, 0, "fsync()");
    check_phase(&reads, 0, "read() and pread() of 64 MB");
    check_phase(&all, 5, "the file work in all, full checks included");
    free(buf);
    return NULL;
}

int
main(void)
{
    ticker_start();
    check_green_threads(2);

    pthread_t w = spawn(file_worker, NULL);
    join_within(w, 50);

    /* waitpid on a child that sleeps 300 ms. */
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct timespec ts = { 0, 300000000 };
        nanosleep(&ts, NULL);
        _exit(9);
    }
    long before = ticker_now();
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 9);
    check_ticked(before, "waitpid");

    ticker_stop();
    return 0;
}
