/* tests/key_destructors.c
 * Behaviour: thread-specific data is per thread: a new thread sees NULL for every key, and at
 * thread exit (return or pthread_exit) each non-NULL value's destructor runs once in that thread
 * with that value; a destructor that sets the value again is called again, up to
 * PTHREAD_DESTRUCTOR_ITERATIONS times in all; a deleted key's destructor does not run.
 */
#include "check.h"

#include <limits.h>
#include <stdatomic.h>

static pthread_key_t key_plain, key_resets, key_forever, key_deleted;
static __thread int exiting_marker; /* set by each thread to its own id */

static atomic_int plain_calls;
static atomic_long plain_sum;
static atomic_int plain_wrong_thread;
static atomic_int plain_not_null_inside;

static void
plain_destructor(void *value)
{
    atomic_fetch_add(&plain_calls, 1);
    atomic_fetch_add(&plain_sum, (long)value);
    /* It runs in the exiting thread, whose own TLS still holds its marker. */
    if (exiting_marker != (int)(long)value)
        atomic_fetch_add(&plain_wrong_thread, 1);
    /* glibc clears the slot before calling the destructor. */
    if (pthread_getspecific(key_plain) != NULL)
        atomic_fetch_add(&plain_not_null_inside, 1);
}

static atomic_int resets_calls;

static void
resets_destructor(void *value)
{
    /* Set it again twice: three calls in all. */
    atomic_fetch_add(&resets_calls, 1);
    long v = (long)value;
    if (v < 3)
        CHECK_OK(pthread_setspecific(key_resets, (void *)(v + 1)));
}

static atomic_int forever_calls;

static void
forever_destructor(void *value)
{
    atomic_fetch_add(&forever_calls, 1);
    CHECK_OK(pthread_setspecific(key_forever, value));
}

static atomic_int deleted_calls;

static void
deleted_destructor(void *value)
{
    (void)value;
    atomic_fetch_add(&deleted_calls, 1);
}

static void *
setter(void *arg)
{
    long id = (long)arg;
    exiting_marker = (int)id;
    /* A new thread starts with NULL everywhere, whatever other threads set. */
    CHECK(pthread_getspecific(key_plain) == NULL);
    CHECK(pthread_getspecific(key_resets) == NULL);
    CHECK_OK(pthread_setspecific(key_plain, (void *)id));
    sched_yield();
    sleep_ns(1000);
    CHECK_EQ((long)pthread_getspecific(key_plain), id);
    if (id % 2)
        pthread_exit(NULL);
    return NULL;
}

static void *
resetter(void *arg)
{
    (void)arg;
    CHECK_OK(pthread_setspecific(key_resets, (void *)1L));
    CHECK_OK(pthread_setspecific(key_forever, (void *)&forever_calls));
    return NULL;
}

static int delete_set[2], delete_go[2];

static void *
holder_of_deleted(void *arg)
{
    (void)arg;
    CHECK_OK(pthread_setspecific(key_deleted, (void *)1L));
    char c = 's';
    CHECK_EQ(write(delete_set[1], &c, 1), 1);
    CHECK_EQ(read(delete_go[0], &c, 1), 1);
    return NULL;
}

static void *
no_value(void *arg)
{
    (void)arg;
    /* Setting NULL means no destructor call. */
    CHECK_OK(pthread_setspecific(key_plain, (void *)5L));
    CHECK_OK(pthread_setspecific(key_plain, NULL));
    return NULL;
}

int
main(void)
{
    CHECK_OK(pthread_key_create(&key_plain, plain_destructor));
    CHECK_OK(pthread_key_create(&key_resets, resets_destructor));
    CHECK_OK(pthread_key_create(&key_forever, forever_destructor));
    CHECK_OK(pthread_key_create(&key_deleted, deleted_destructor));
    CHECK(key_plain != key_resets && key_resets != key_forever);

    /* The main thread's values are not visible elsewhere. */
    CHECK_OK(pthread_setspecific(key_plain, (void *)999L));
    enum { N = 64 };
    pthread_t t[N];
    long expect_sum = 0;
    for (long i = 1; i <= N; i++) {
        t[i - 1] = spawn(setter, (void *)i);
        expect_sum += i;
    }
    for (int i = 0; i < N; i++)
        join_within(t[i], 10);
    CHECK_EQ(atomic_load(&plain_calls), N);
    CHECK_EQ(atomic_load(&plain_sum), expect_sum);
    CHECK_EQ(atomic_load(&plain_wrong_thread), 0);
    CHECK_EQ(atomic_load(&plain_not_null_inside), 0);
    CHECK_EQ((long)pthread_getspecific(key_plain), 999);

    join_within(spawn(no_value, NULL), 10);
    CHECK_EQ(atomic_load(&plain_calls), N);

    /* Destructors that set values again. */
    join_within(spawn(resetter, NULL), 10);
    CHECK_EQ(atomic_load(&resets_calls), 3);
    fprintf(stderr, "a destructor that always re-sets ran %d times (ITERATIONS %d)\n",
            atomic_load(&forever_calls), PTHREAD_DESTRUCTOR_ITERATIONS);
    CHECK_EQ(atomic_load(&forever_calls), PTHREAD_DESTRUCTOR_ITERATIONS);

    /* Deleting a key while a thread holds a value: no destructor call at its exit. */
    CHECK_OK(pipe(delete_set));
    CHECK_OK(pipe(delete_go));
    pthread_t h = spawn(holder_of_deleted, NULL);
    char c;
    CHECK_EQ(read(delete_set[0], &c, 1), 1);
    CHECK_OK(pthread_setspecific(key_deleted, (void *)2L));
    CHECK_OK(pthread_key_delete(key_deleted));
    CHECK_EQ(write(delete_go[1], &c, 1), 1);
    join_within(h, 10);
    CHECK_EQ(atomic_load(&deleted_calls), 0);

    /* Many keys at once in many threads. */
    enum { KEYS = 100 };
    static pthread_key_t many[KEYS];
    for (int i = 0; i < KEYS; i++)
        CHECK_OK(pthread_key_create(&many[i], NULL));
    for (int i = 0; i < KEYS; i++)
        CHECK_OK(pthread_setspecific(many[i], (void *)(long)(i + 1)));
    for (int i = 0; i < KEYS; i++)
        CHECK_EQ((long)pthread_getspecific(many[i]), i + 1);
    for (int i = 0; i < KEYS; i++)
        CHECK_OK(pthread_key_delete(many[i]));

    CHECK_OK(pthread_key_delete(key_plain));
    CHECK_OK(pthread_key_delete(key_resets));
    CHECK_OK(pthread_key_delete(key_forever));
    return 0;
}
