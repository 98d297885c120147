/* tests/setuid_many.c
 * Behaviour: with thousands of threads alive and blocked, the setuid/setgid family (which glibc
 * applies to every OS thread of the process) completes promptly, from the main thread and from
 * another thread, and afterwards every OS thread of the process carries the new credentials.
 */
#include "check.h"

#include <dirent.h>
#include <grp.h>
#include <sys/types.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long waiting;
static int go;

static void *
blocked(void *arg)
{
    CHECK_OK(pthread_mutex_lock(&mu));
    waiting++;
    CHECK_OK(pthread_cond_broadcast(&cond));
    while (!go)
        CHECK_OK(pthread_cond_wait(&cond, &mu));
    CHECK_OK(pthread_mutex_unlock(&mu));
    /* Our credentials changed under us and came back. */
    CHECK_EQ(geteuid(), 0);
    CHECK_EQ(getegid(), 0);
    return arg;
}

/* Each OS thread's effective gid from /proc/self/task/TID/status must be `egid`. */
static void
check_all_tasks_egid(gid_t egid)
{
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL);
    struct dirent *e;
    int tasks = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], buf[4096];
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue; /* the task exited meanwhile */
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        char *g = strstr(buf, "\nGid:");
        CHECK(g != NULL);
        unsigned long real, eff;
        CHECK_EQ(sscanf(g + 5, "%lu %lu", &real, &eff), 2);
        if (eff != egid)
            fprintf(stderr, "task %s has egid %lu, expected %lu\n", e->d_name, eff,
                    (unsigned long)egid);
        CHECK_EQ(eff, egid);
        tasks++;
    }
    closedir(d);
    CHECK(tasks >= 1);
}

static long long
timed(int (*fn)(void))
{
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_OK(fn());
    return now_ns(CLOCK_MONOTONIC) - t0;
}

static int
do_setegid_same(void)
{
    return setegid(getegid());
}

static int
do_seteuid_same(void)
{
    return seteuid(geteuid());
}

static int
do_setresgid_same(void)
{
    return setresgid(0, 0, 0);
}

static int
do_setresuid_same(void)
{
    return setresuid(0, 0, 0);
}

static int
do_setgid_same(void)
{
    return setgid(getgid());
}

static int
do_setuid_same(void)
{
    return setuid(getuid());
}

static int
do_setregid_same(void)
{
    return setregid(0, 0);
}

static int
do_setegid_other(void)
{
    return setegid(1234);
}

static int
do_setegid_back(void)
{
    return setegid(0);
}

static int (*const calls[])(void) = {
    do_setegid_same, do_seteuid_same, do_setresgid_same, do_setresuid_same,
    do_setgid_same,  do_setuid_same,  do_setregid_same,
};

static void *
changer(void *arg)
{
    (void)arg;
    /* The same calls made from a thread other than main. */
    CHECK_OK(setegid(1234));
    CHECK_EQ(getegid(), 1234);
    CHECK_OK(setegid(0));
    CHECK_OK(seteuid(0));
    return NULL;
}

int
main(void)
{
    if (geteuid() != 0)
        skip_test("not root: the setuid family needs privileges to change ids");
    long n = scale(2000, 200);
    pthread_t *t = calloc((size_t)n, sizeof *t);
    CHECK(t != NULL);
    for (long i = 0; i < n; i++)
        t[i] = spawn(blocked, (void *)i);
    CHECK_OK(pthread_mutex_lock(&mu));
    while (waiting < n)
        CHECK_OK(pthread_cond_wait(&cond, &mu));
    CHECK_OK(pthread_mutex_unlock(&mu));
    check_green_threads(n);

    long long worst = 0;
    for (int round = 0; round < 10; round++) {
        for (unsigned i = 0; i < sizeof calls / sizeof calls[0]; i++) {
            long long ns = timed(calls[i]);
            if (ns > worst)
                worst = ns;
        }
    }
    long long ns = timed(do_setegid_other);
    CHECK_EQ(getegid(), 1234);
    check_all_tasks_egid(1234);
    ns += timed(do_setegid_back);
    CHECK_EQ(getegid(), 0);
    check_all_tasks_egid(0);
    if (ns > worst)
        worst = ns;

    /* setgroups applies to every thread too. */
    gid_t groups[64];
    int ngroups = getgroups(64, groups);
    CHECK(ngroups >= 0);
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_OK(setgroups((size_t)ngroups, groups));
    if (now_ns(CLOCK_MONOTONIC) - t0 > worst)
        worst = now_ns(CLOCK_MONOTONIC) - t0;

    join_within(spawn(changer, NULL), 20);
    check_all_tasks_egid(0);

    fprintf(stderr, "slowest id change with %ld threads: %lld us\n", n, worst / 1000);
    /* Promptly: a generous bound that a livelock (or a signal storm) cannot meet. */
    CHECK(worst < 2000000000LL);

    CHECK_OK(pthread_mutex_lock(&mu));
    go = 1;
    CHECK_OK(pthread_cond_broadcast(&cond));
    CHECK_OK(pthread_mutex_unlock(&mu));
    for (long i = 0; i < n; i++)
        CHECK_EQ((long)join_within(t[i], 20), i);
    free(t);
    return 0;
}
