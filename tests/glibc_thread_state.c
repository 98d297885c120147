/* tests/glibc_thread_state.c
 * Behaviour: glibc's own per-thread state works in every thread: ctype after setlocale, uselocale
 * per thread (MB_CUR_MAX follows it), sched_getcpu, a private resolver state (_res), recursive and
 * errorcheck mutex ownership, stdio FILE locks, and ld.so's lock around dl_iterate_phdr callbacks
 * (a second thread's dl_iterate_phdr waits while the first is inside its callback).
 */
#include "check.h"

#include <ctype.h>
#include <link.h>
#include <locale.h>
#include <resolv.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#define N 4

static pthread_barrier_t barrier;

/* ctype, locales, sched_getcpu, errno's address. */
static locale_t utf8;
static int *errno_addr[N];

static void *
ctype_and_locale(void *arg)
{
    long id = (long)arg;
    CHECK(isalpha('a'));
    CHECK(!isalpha('1'));
    CHECK(isdigit('7'));
    CHECK(isspace(' '));
    CHECK_EQ(toupper('a'), 'A');
    CHECK_EQ(tolower('Q'), 'q');
    CHECK_EQ(toupper('1'), '1');
    int cpu = sched_getcpu();
    CHECK(cpu >= 0);
    CHECK(cpu < CPU_SETSIZE);
    errno_addr[id] = &errno;

    /* Odd threads switch to C.UTF-8 for themselves only. */
    CHECK(uselocale((locale_t)0) == LC_GLOBAL_LOCALE);
    CHECK_EQ(MB_CUR_MAX, 1);
    if (id % 2)
        CHECK(uselocale(utf8) == LC_GLOBAL_LOCALE);
    pthread_barrier_wait(&barrier);
    /* Everyone has made its choice; each still sees its own, across a park. */
    sleep_ns(1000000);
    if (id % 2) {
        CHECK(uselocale((locale_t)0) == utf8);
        CHECK(MB_CUR_MAX > 1);
    } else {
        CHECK(uselocale((locale_t)0) == LC_GLOBAL_LOCALE);
        CHECK_EQ(MB_CUR_MAX, 1);
    }
    CHECK(isalpha('z'));
    pthread_barrier_wait(&barrier);
    if (id % 2)
        CHECK(uselocale(LC_GLOBAL_LOCALE) == utf8);
    return NULL;
}

static void
check_ctype_locale(void)
{
    CHECK(setlocale(LC_ALL, "C") != NULL);
    utf8 = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
    if (utf8 == (locale_t)0)
        skip_test("no C.UTF-8 locale");
    CHECK_OK(pthread_barrier_init(&barrier, NULL, N));
    pthread_t t[N];
    for (long i = 0; i < N; i++)
        t[i] = spawn(ctype_and_locale, (void *)i);
    for (int i = 0; i < N; i++)
        join_within(t[i], 10);
    CHECK_OK(pthread_barrier_destroy(&barrier));
    for (int i = 0; i < N; i++) {
        CHECK(errno_addr[i] != &errno);
        for (int j = i + 1; j < N; j++)
            CHECK(errno_addr[i] != errno_addr[j]);
    }
    CHECK_EQ(MB_CUR_MAX, 1);
    freelocale(utf8);
}

/* Each thread has its own resolver state; compare while both are alive. */
static struct __res_state *res_addr[2];
static int res_retry_seen[2];

static void *
resolver_state(void *arg)
{
    long id = (long)arg;
    CHECK_OK(res_init());
    res_addr[id] = &_res;
    pthread_barrier_wait(&barrier);
    if (id == 0)
        _res.retry = 77;
    pthread_barrier_wait(&barrier);
    res_retry_seen[id] = _res.retry;
    pthread_barrier_wait(&barrier);
    return NULL;
}

static void
check_resolver(void)
{
    CHECK_OK(pthread_barrier_init(&barrier, NULL, 2));
    pthread_t a = spawn(resolver_state, (void *)0);
    pthread_t b = spawn(resolver_state, (void *)1);
    join_within(a, 10);
    join_within(b, 10);
    CHECK_OK(pthread_barrier_destroy(&barrier));
    CHECK(res_addr[0] != res_addr[1]);
    CHECK(res_addr[0] != &_res);
    CHECK(res_addr[1] != &_res);
    CHECK_EQ(res_retry_seen[0], 77);
    CHECK(res_retry_seen[1] != 77);
}

/* Mutex owners are per thread: glibc keys recursive and errorcheck mutexes on the thread id. */
static pthread_mutex_t rec = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pthread_mutex_t errc = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;

static void *
owner_a(void *arg)
{
    (void)arg;
    CHECK_OK(pthread_mutex_lock(&rec));
    CHECK_OK(pthread_mutex_lock(&rec));
    CHECK_OK(pthread_mutex_lock(&errc));
    flockfile(stdout);
    pthread_barrier_wait(&barrier); /* B checks while we hold them */
    pthread_barrier_wait(&barrier);
    funlockfile(stdout);
    CHECK_OK(pthread_mutex_unlock(&errc));
    CHECK_OK(pthread_mutex_unlock(&rec));
    CHECK_OK(pthread_mutex_unlock(&rec));
    pthread_barrier_wait(&barrier); /* released */
    return NULL;
}

static void *
owner_b(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&barrier);
    CHECK_ERR(pthread_mutex_trylock(&rec), EBUSY);
    CHECK_ERR(pthread_mutex_trylock(&errc), EBUSY);
    CHECK_ERR(pthread_mutex_unlock(&rec), EPERM);
    CHECK_ERR(pthread_mutex_unlock(&errc), EPERM);
    CHECK(ftrylockfile(stdout) != 0);
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
    CHECK_OK(pthread_mutex_trylock(&rec));
    CHECK_OK(pthread_mutex_unlock(&rec));
    /* An errorcheck mutex that nobody holds locks fine (not EDEADLK). */
    CHECK_OK(pthread_mutex_lock(&errc));
    CHECK_OK(pthread_mutex_unlock(&errc));
    CHECK_EQ(ftrylockfile(stdout), 0);
    funlockfile(stdout);
    return NULL;
}

static void
check_owners(void)
{
    CHECK_OK(pthread_barrier_init(&barrier, NULL, 2));
    pthread_t a = spawn(owner_a, NULL);
    pthread_t b = spawn(owner_b, NULL);
    join_within(a, 10);
    join_within(b, 10);
    CHECK_OK(pthread_barrier_destroy(&barrier));
}

/* dl_iterate_phdr: B must not enter its callback while A is inside one. */
static int a_inside_pipe[2], a_release_pipe[2];
static atomic_int a_inside, b_entered, b_saw_a_inside;

static int
callback_a(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)info;
    (void)size;
    (void)data;
    atomic_store(&a_inside, 1);
    char c = 'i';
    CHECK_EQ(write(a_inside_pipe[1], &c, 1), 1);
    CHECK_EQ(read(a_release_pipe[0], &c, 1), 1);
    atomic_store(&a_inside, 0);
    return 1; /* stop after the first object */
}

static int
callback_b(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)info;
    (void)size;
    (void)data;
    atomic_store(&b_entered, 1);
    if (atomic_load(&a_inside))
        atomic_store(&b_saw_a_inside, 1);
    return 1;
}

static void *
iterate_a(void *arg)
{
    (void)arg;
    CHECK_EQ(dl_iterate_phdr(callback_a, NULL), 1);
    return NULL;
}

static struct blocker b_blocked;

static void *
iterate_b(void *arg)
{
    (void)arg;
    blocker_here(&b_blocked, "iterate_b");
    CHECK_EQ(dl_iterate_phdr(callback_b, NULL), 1);
    return NULL;
}

static int
count_objects(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    CHECK(info->dlpi_phnum > 0);
    (*(int *)data)++;
    return 0;
}

static void
check_dl_iterate_phdr(void)
{
    int objects = 0;
    CHECK_EQ(dl_iterate_phdr(count_objects, &objects), 0);
    CHECK(objects >= 2);

    CHECK_OK(pipe(a_inside_pipe));
    CHECK_OK(pipe(a_release_pipe));
    pthread_t a = spawn(iterate_a, NULL);
    char c;
    CHECK_EQ(read(a_inside_pipe[0], &c, 1), 1);
    pthread_t b = spawn(iterate_b, NULL);
    /* B waits inside dl_iterate_phdr for A to leave, without having entered its callback. (B
     * getting in wrongly never blocks: it finishes, and wait_blocked fails saying so.) */
    wait_blocked(&b_blocked, SYS_futex, NULL);
    CHECK_EQ(atomic_load(&b_entered), 0);
    CHECK_EQ(write(a_release_pipe[1], &c, 1), 1);
    join_within(a, 10);
    join_within(b, 10);
    CHECK_EQ(atomic_load(&b_entered), 1);
    CHECK_EQ(atomic_load(&b_saw_a_inside), 0);
}

int
main(void)
{
    check_ctype_locale();
    check_resolver();
    check_owners();
    check_dl_iterate_phdr();
    return 0;
}
