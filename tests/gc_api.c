/* tests/gc_api.c
 * Behaviour: greenrun.h's leak-check calls, found with dlsym as a program that must also run
 * without greenrun finds them. Under GREENRUN_GC=leak: an object reached only through an
 * object from greenrun_malloc_noscan is lost (the check does not read a no-scan object),
 * while one reached the same way through a malloc'ed object is kept; greenrun_gc() runs the
 * check there and then (stderr names the lost object's allocating function, lost_target, and
 * not kept_target), and greenrun_gc_stats then says: mode leak, one check, exactly one
 * object of 40 bytes lost, objects in use and allocation stacks recorded. Under
 * GREENRUN_GC=off: greenrun_malloc_noscan is a usable malloc, greenrun_gc returns ENOSYS,
 * the stats say mode off and no check. Natively none of the names is defined and the
 * program's fallback (malloc) serves.
 */
#include "check.h"

#include <sys/wait.h>

#define NOINLINE __attribute__((noinline))

/* Copied from preload/greenrun.h (tests include nothing of greenrun). */
struct greenrun_gc_stats {
    int mode;
    unsigned long long checks;
    unsigned long long live_objects;
    unsigned long long leaked_objects;
    unsigned long long leaked_bytes;
    unsigned long long sites;
    unsigned long long last_pause_ns;
};

static void *(*noscan_fn)(size_t);
static int (*gc_fn)(void);
static int (*stats_fn)(struct greenrun_gc_stats *, size_t);

static void
lookup(void)
{
    noscan_fn = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "greenrun_malloc_noscan");
    gc_fn = (int (*)(void))dlsym(RTLD_DEFAULT, "greenrun_gc");
    stats_fn =
        (int (*)(struct greenrun_gc_stats *, size_t))dlsym(RTLD_DEFAULT, "greenrun_gc_stats");
}

/* The program's way: greenrun's when it is there, malloc when not. */
static void *
alloc_noscan(size_t n)
{
    return noscan_fn != NULL ? noscan_fn(n) : malloc(n);
}

static void **plain_holder;  /* malloc'ed: its word keeps kept_target's object */
static void **noscan_holder; /* no-scan: its word keeps nothing */

static NOINLINE void *
kept_target(void)
{
    return malloc(48);
}

static NOINLINE void *
lost_target(void)
{
    return malloc(40);
}

/* On a thread since joined: no stale copy of either target stays on a live stack. */
static void *
build(void *arg)
{
    (void)arg;
    plain_holder = malloc(32);
    noscan_holder = alloc_noscan(32);
    CHECK(plain_holder != NULL && noscan_holder != NULL);
    memset(noscan_holder, 0, 32);
    plain_holder[0] = kept_target();
    if (getenv("SHOWADDR"))
        fprintf(stderr, "lost at %p\n", (void *)0);
    noscan_holder[0] = lost_target();
    if (getenv("SHOWADDR"))
        fprintf(stderr, "LOST %p\n", noscan_holder[0]);
    return NULL;
}

static void
child(const char *mode)
{
    struct greenrun_gc_stats st;
    pthread_t t;

    lookup();
    CHECK_OK(pthread_create(&t, NULL, build, NULL));
    CHECK_OK(pthread_join(t, NULL));
    if (!test_green()) {
        CHECK(noscan_fn == NULL && gc_fn == NULL && stats_fn == NULL);
        exit(0);
    }
    CHECK(noscan_fn != NULL && gc_fn != NULL && stats_fn != NULL);
    CHECK_EQ(stats_fn(&st, sizeof(st) - 1), EINVAL);
    if (strcmp(mode, "off") == 0) {
        CHECK_EQ(gc_fn(), ENOSYS);
        CHECK_OK(stats_fn(&st, sizeof(st)));
        CHECK(st.mode == 0 && st.checks == 0 && st.sites == 0);
        exit(0);
    }
    CHECK_OK(stats_fn(&st, sizeof(st)));
    CHECK(st.mode == 1 && st.checks == 0);
    CHECK_OK(gc_fn());
    CHECK_OK(stats_fn(&st, sizeof(st)));
    fprintf(stderr, "stats: checks %llu live %llu leaked %llu (%llu bytes) sites %llu\n", st.checks,
            st.live_objects, st.leaked_objects, st.leaked_bytes, st.sites);
    CHECK(st.mode == 1 && st.checks == 1);
    CHECK(st.leaked_objects == 1 && st.leaked_bytes == 40);
    CHECK(st.live_objects >= 3 && st.sites >= 4);
    CHECK(plain_holder[0] != NULL && noscan_holder[0] != NULL);
    exit(0);
}

/* ---- The parent: runs the child under each mode and reads its stderr. */

/* Run this program as "child MODE" with GREENRUN_GC=MODE in place of any GREENRUN_GC*
 * variable, its output into out; returns its exit status. */
static int
run_mode(char *mode, char *out, size_t size)
{
    static const char *const drop[] = { "GREENRUN_GC", NULL };
    char setting[64];
    char *add[] = { setting, NULL };
    char *argv[] = { (char *)"/proc/self/exe", (char *)"child", mode, NULL };

    snprintf(setting, sizeof setting, "GREENRUN_GC=%s", mode);
    return run_capture(argv, env_with(drop, add), out, size);
}

int
main(int argc, char **argv)
{
    static char out[1 << 16];

    if (argc > 2 && strcmp(argv[1], "child") == 0)
        child(argv[2]);
    CHECK_EQ(run_mode((char *)"leak", out, sizeof out), 0);
    fprintf(stderr, "--- leak child ---\n%s--- end ---\n", out);
    if (test_green()) {
        const char *on_demand = strstr(out, "greenrun: leak check #1 on demand");
        CHECK(on_demand != NULL);
        CHECK(strstr(on_demand, " in lost_target") != NULL);
        CHECK(strstr(out, " in kept_target") == NULL);
    } else {
        CHECK(strstr(out, "greenrun:") == NULL);
    }
    CHECK_EQ(run_mode((char *)"off", out, sizeof out), 0);
    fprintf(stderr, "--- off child ---\n%s--- end ---\n", out);
    CHECK(strstr(out, "leak check") == NULL);
    return 0;
}
