/* tests/dlopen_dtv_grow.c
 * Behaviour: libraries with dynamic TLS dlopen'ed while threads live give every thread its own
 * copy, whatever the number of modules: first a few (glibc's DTV has room for them), then
 * more than its spare slots (each thread's DTV grows on its next use). Threads made before,
 * between and after the loads all see initial values and keep their own counts; a thread's
 * dynamic TLS blocks are released when it exits, so thousands of short threads that each
 * touch every module leave the process's memory where it was.
 */
#include "check.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdatomic.h>

#define FEW    4  /* within glibc's spare DTV slots (14) */
#define MANY   24 /* more than them */
#define EARLY  32
#define ROUNDS 3
#define CHURN  2000 /* short threads, each touching every module: 4 KiB blocks */

typedef long (*bump_fn)(void);

static bump_fn bump[MANY];
static atomic_int loaded; /* modules of bump[] a thread may use */
static atomic_int wanted; /* what the early threads wait for before using them */

/* Use modules [0, n): each call counts on from the module's initial 1000 for this thread. */
static void
use_modules(int n)
{
    for (int r = 1; r <= ROUNDS; r++)
        for (int i = 0; i < n; i++)
            CHECK_EQ(bump[i](), 1000 + r);
}

/* Made before any load: uses the few, then (its DTV too small now) all of them. */
static void *
early(void *arg)
{
    (void)arg;
    WAIT_FOR(atomic_load(&wanted) >= FEW && atomic_load(&loaded) >= FEW, 30);
    use_modules(FEW);
    WAIT_FOR(atomic_load(&wanted) >= MANY && atomic_load(&loaded) >= MANY, 30);
    for (int r = 1; r <= ROUNDS; r++)
        for (int i = 0; i < MANY; i++)
            CHECK_EQ(bump[i](), 1000 + (i < FEW ? ROUNDS + r : r));
    return NULL;
}

/* Made after the loads it uses. */
static void *
later(void *arg)
{
    use_modules((int)(intptr_t)arg);
    return NULL;
}

static void
load(const char *dir, const char *lib_data_path, int from, int to)
{
    int in = open(lib_data_path, O_RDONLY | O_CLOEXEC);
    CHECK(in >= 0);
    off_t size = lseek(in, 0, SEEK_END);
    CHECK(size > 0);
    char *data = malloc((size_t)size);
    CHECK(data != NULL);
    CHECK_EQ(pread(in, data, (size_t)size, 0), (ssize_t)size);
    close(in);
    for (int i = from; i < to; i++) {
        /* A copy under another name is another module (glibc tells files apart by inode). */
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/libdyntls-%d.so", dir, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
        CHECK(fd >= 0);
        write_full(fd, data, (size_t)size);
        close(fd);
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
            CHECK(h != NULL);
        }
        bump[i] = (bump_fn)dlsym(h, "dyntls_bump");
        CHECK(bump[i] != NULL);
        CHECK_OK(unlink(path));
    }
    free(data);
    atomic_store(&loaded, to);
}

/* CHURN threads one after another, each using n modules; VmRSS growth in kB. */
static long
churn(int n)
{
    long before = proc_status_value("VmRSS");
    for (int i = 0; i < CHURN; i++)
        join_within(spawn(later, (void *)(intptr_t)n), 30);
    return proc_status_value("VmRSS") - before;
}

int
main(void)
{
    char exe[PATH_MAX], lib[PATH_MAX + 32], dir[] = "/tmp/gr-dtv-XXXXXX";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0);
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    CHECK(slash != NULL);
    *slash = '\0';
    snprintf(lib, sizeof lib, "%s/../lib/libdyntls.so", exe);
    CHECK(mkdtemp(dir) != NULL);

    pthread_t t[EARLY];
    for (int i = 0; i < EARLY; i++)
        t[i] = spawn(early, NULL);
    check_green_threads(EARLY + 1);

    load(dir, lib, 0, FEW);
    atomic_store(&wanted, FEW);
    join_within(spawn(later, (void *)(intptr_t)FEW), 30);
    /* Threads whose DTV has room for every module, each leaving FEW blocks behind it. */
    long grown_few = churn(FEW);

    load(dir, lib, FEW, MANY);
    atomic_store(&wanted, MANY);
    for (int i = 0; i < EARLY; i++)
        join_within(t[i], 30);
    /* Threads whose DTV is made for every module, and the main thread's, which grows. */
    long grown_many = churn(MANY);
    use_modules(MANY);
    CHECK_OK(rmdir(dir));

    /* Leaked blocks would be 4 KiB per module per thread: 31 MiB and 187 MiB. */
    fprintf(stderr, "VmRSS growth: %ld kB over %d threads using %d modules, %ld kB using %d\n",
            grown_few, CHURN, FEW, grown_many, MANY);
    CHECK(grown_few < 8 * 1024);
    CHECK(grown_many < 16 * 1024);
    check_green_threads(1);
    return 0;
}
