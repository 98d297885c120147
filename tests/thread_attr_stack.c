/* tests/thread_attr_stack.c
 * Behaviour: stack attributes are honoured: pthread_attr_setstacksize gives a thread at least the
 * requested stack and pthread_getattr_np reports a range holding the thread's locals;
 * pthread_attr_setstack runs the thread on the caller's buffer; getattr_np reports the detach
 * state; a thread can use 1 MiB of a 2 MiB stack.
 */
#include "check.h"

#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>

struct report {
    size_t requested;
    void *stackaddr;
    size_t stacksize;
    uintptr_t local;
    int detachstate;
};

/* Fill r from pthread_getattr_np on the calling thread. */
static void
report_self(struct report *r)
{
    volatile int local = 1;
    pthread_attr_t a;
    CHECK_OK(pthread_getattr_np(pthread_self(), &a));
    CHECK_OK(pthread_attr_getstack(&a, &r->stackaddr, &r->stacksize));
    CHECK_OK(pthread_attr_getdetachstate(&a, &r->detachstate));
    CHECK_OK(pthread_attr_destroy(&a));
    r->local = (uintptr_t)&local;
}

static void
check_in_range(const struct report *r)
{
    uintptr_t lo = (uintptr_t)r->stackaddr;
    CHECK(r->local >= lo);
    CHECK(r->local < lo + r->stacksize);
}

static void *
reporter(void *arg)
{
    report_self(arg);
    return NULL;
}

static void
check_stacksize(size_t size)
{
    pthread_attr_t a;
    CHECK_OK(pthread_attr_init(&a));
    CHECK_OK(pthread_attr_setstacksize(&a, size));
    size_t got = 0;
    CHECK_OK(pthread_attr_getstacksize(&a, &got));
    CHECK_EQ(got, size);
    struct report r = { .requested = size };
    pthread_t t;
    CHECK_OK(pthread_create(&t, &a, reporter, &r));
    CHECK_OK(pthread_attr_destroy(&a));
    CHECK_OK(pthread_join(t, NULL));
    fprintf(stderr, "stacksize %zu: reported %zu at %p\n", size, r.stacksize, r.stackaddr);
    CHECK(r.stacksize >= size);
    check_in_range(&r);
    CHECK_EQ(r.detachstate, PTHREAD_CREATE_JOINABLE);
}

static void
check_default_stack(void)
{
    struct report r = { 0 };
    CHECK_OK(pthread_join(spawn(reporter, &r), NULL));
    check_in_range(&r);
    fprintf(stderr, "default stack: %zu bytes\n", r.stacksize);
    /* Default-attribute threads get the native default: RLIMIT_STACK, or 2 MiB if unlimited. */
    struct rlimit rl;
    CHECK_OK(getrlimit(RLIMIT_STACK, &rl));
    size_t want = rl.rlim_cur == RLIM_INFINITY ? 2u << 20 : (size_t)rl.rlim_cur;
    if (want > (64u << 20))
        want = 64u << 20;
    CHECK(r.stacksize >= want - 65536);

    /* The default attribute object reports the same size that threads get. */
    pthread_attr_t a;
    CHECK_OK(pthread_getattr_default_np(&a));
    size_t def = 0;
    CHECK_OK(pthread_attr_getstacksize(&a, &def));
    CHECK_OK(pthread_attr_destroy(&a));
    CHECK(def > 0);
}

static void
check_user_stack(void)
{
    size_t len = 256 * 1024;
    void *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(buf != MAP_FAILED);
    pthread_attr_t a;
    CHECK_OK(pthread_attr_init(&a));
    CHECK_OK(pthread_attr_setstack(&a, buf, len));
    void *addr = NULL;
    size_t size = 0;
    CHECK_OK(pthread_attr_getstack(&a, &addr, &size));
    CHECK(addr == buf);
    CHECK_EQ(size, len);
    struct report r = { .requested = len };
    pthread_t t;
    CHECK_OK(pthread_create(&t, &a, reporter, &r));
    CHECK_OK(pthread_attr_destroy(&a));
    CHECK_OK(pthread_join(t, NULL));
    fprintf(stderr, "user stack [%p, +%zu): local at %p, reported %p +%zu\n", buf, len,
            (void *)r.local, r.stackaddr, r.stacksize);
    CHECK(r.local >= (uintptr_t)buf && r.local < (uintptr_t)buf + len);
    check_in_range(&r);
    CHECK((uintptr_t)r.stackaddr >= (uintptr_t)buf);
    CHECK((uintptr_t)r.stackaddr + r.stacksize <= (uintptr_t)buf + len);
    CHECK_OK(munmap(buf, len));
}

static int release_pipe[2];

static void *
detached_reporter(void *arg)
{
    report_self(arg);
    /* The creator reads the report after this byte, then lets us go. */
    char c = 'r';
    CHECK_EQ(write(release_pipe[1], &c, 1), 1);
    return NULL;
}

static void *
self_detaching(void *arg)
{
    CHECK_OK(pthread_detach(pthread_self()));
    return detached_reporter(arg);
}

static void
check_detach_state(void)
{
    CHECK_OK(pipe(release_pipe));
    pthread_attr_t a;
    CHECK_OK(pthread_attr_init(&a));
    CHECK_OK(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED));
    struct report r1 = { 0 }, r2 = { 0 };
    pthread_t t;
    CHECK_OK(pthread_create(&t, &a, detached_reporter, &r1));
    CHECK_OK(pthread_attr_destroy(&a));
    char c;
    CHECK_EQ(read(release_pipe[0], &c, 1), 1);
    CHECK_EQ(r1.detachstate, PTHREAD_CREATE_DETACHED);
    check_in_range(&r1);

    t = spawn(self_detaching, &r2);
    (void)t;
    CHECK_EQ(read(release_pipe[0], &c, 1), 1);
    CHECK_EQ(r2.detachstate, PTHREAD_CREATE_DETACHED);

    /* The main thread's own report holds its locals too. */
    struct report rm = { 0 };
    report_self(&rm);
    check_in_range(&rm);
    CHECK_EQ(rm.detachstate, PTHREAD_CREATE_JOINABLE);
}

/* Use about `bytes` of stack in frames of 64 KiB, so no single frame jumps over a guard page. */
static __attribute__((noinline)) unsigned long
use_stack(size_t bytes)
{
    volatile unsigned char frame[64 * 1024];
    for (size_t i = 0; i < sizeof frame; i += 512)
        frame[i] = (unsigned char)(i >> 9);
    unsigned long sum = 0;
    if (bytes > sizeof frame)
        sum = use_stack(bytes - sizeof frame);
    for (size_t i = 0; i < sizeof frame; i += 512)
        sum += frame[i];
    return sum;
}

static void *
deep(void *arg)
{
    (void)arg;
    return (void *)use_stack(1u << 20);
}

static void
check_deep_stack(void)
{
    pthread_attr_t a;
    CHECK_OK(pthread_attr_init(&a));
    CHECK_OK(pthread_attr_setstacksize(&a, 2u << 20));
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK_OK(pthread_create(&t[i], &a, deep, NULL));
    CHECK_OK(pthread_attr_destroy(&a));
    unsigned long expect = use_stack(1u << 20);
    for (int i = 0; i < 4; i++)
        CHECK_EQ((unsigned long)join_within(t[i], 10), expect);
}

int
main(void)
{
    check_stacksize(PTHREAD_STACK_MIN);
    check_stacksize(64 * 1024);
    check_stacksize(256 * 1024 + 4096);
    check_stacksize(4u << 20);
    CHECK_ERR(({
                  pthread_attr_t a;
                  pthread_attr_init(&a);
                  pthread_attr_setstacksize(&a, PTHREAD_STACK_MIN - 1);
              }),
              EINVAL);
    check_default_stack();
    check_user_stack();
    check_detach_state();
    check_deep_stack();
    return 0;
}
