/* tests/signal_mask_kill_stop.c
 * Behaviour: a signal mask set from a full set (pthread_sigmask or sigprocmask, SIG_SETMASK or
 * SIG_BLOCK) never holds SIGKILL or SIGSTOP (the kernel drops them) nor glibc's internal
 * signals 32 and 33 (SIGCANCEL, SIGSETXID: glibc drops them), in the old set returned later,
 * in the calling thread and in a thread it creates. The old set is written as the kernel
 * writes it: its first 8 bytes (signals 1 to 64); the rest of the caller's sigset_t is left as
 * it was. A thread created with pthread_attr_setsigmask_np starts with that mask (less the
 * same four), not its creator's.
 */
#include "check.h"

#include <signal.h>
#include <stdint.h>

/* Signals 1..64 of a set, as one word. */
static uint64_t
word_of(const sigset_t *s)
{
    uint64_t w;
    memcpy(&w, s, sizeof w);
    return w;
}

static const uint64_t never =
    (1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)) | (1ULL << 31) | (1ULL << 32);

/* The current mask read into a set whose bytes were all 0xa5: the word must be every signal
 * but the four, and the rest untouched. */
static void
check_full_mask(const char *how, int use_sigprocmask)
{
    sigset_t cur;
    memset(&cur, 0xa5, sizeof cur);
    if (use_sigprocmask)
        CHECK_OK(sigprocmask(SIG_BLOCK, NULL, &cur));
    else
        CHECK_OK(pthread_sigmask(SIG_BLOCK, NULL, &cur));
    CHECK_EQ(sigismember(&cur, SIGKILL), 0);
    CHECK_EQ(sigismember(&cur, SIGSTOP), 0);
    CHECK_EQ(sigismember(&cur, 32), 0);
    CHECK_EQ(sigismember(&cur, 33), 0);
    CHECK_EQ(sigismember(&cur, SIGUSR1), 1);
    CHECK_EQ(sigismember(&cur, SIGRTMAX), 1);
    CHECK(word_of(&cur) == ~never);
    for (size_t i = sizeof(uint64_t); i < sizeof cur; i++)
        CHECK_EQ(((unsigned char *)&cur)[i], 0xa5);
    fprintf(stderr, "%s: full mask without SIGKILL, SIGSTOP, 32, 33\n", how);
}

static void *
child(void *arg)
{
    (void)arg;
    check_full_mask("inherited", 0);
    return NULL;
}

static void *
empty_mask_child(void *arg)
{
    sigset_t cur;
    (void)arg;
    CHECK_OK(pthread_sigmask(SIG_SETMASK, NULL, &cur));
    CHECK(word_of(&cur) == 0);
    return NULL;
}

/* pthread_attr_setsigmask_np: the child's mask is the attribute's, whatever the creator's. */
static void
attr_masks(void)
{
    pthread_attr_t attr;
    sigset_t all, none, old;
    pthread_t t;

    sigfillset(&all);
    sigemptyset(&none);
    CHECK_OK(pthread_attr_init(&attr));
    CHECK_OK(pthread_attr_setsigmask_np(&attr, &all));
    CHECK_OK(pthread_create(&t, &attr, child, NULL));
    join_within(t, 10);
    CHECK_OK(pthread_sigmask(SIG_SETMASK, &all, &old));
    CHECK_OK(pthread_attr_setsigmask_np(&attr, &none));
    CHECK_OK(pthread_create(&t, &attr, empty_mask_child, NULL));
    join_within(t, 10);
    CHECK_OK(pthread_sigmask(SIG_SETMASK, &old, NULL));
    CHECK_OK(pthread_attr_destroy(&attr));
    fprintf(stderr, "pthread_attr_setsigmask_np: the child starts with the attribute's mask\n");
}

static void *
run(void *arg)
{
    sigset_t all, none, old;
    (void)arg;
    sigfillset(&all);
    sigemptyset(&none);

    CHECK_OK(pthread_sigmask(SIG_SETMASK, &all, NULL));
    check_full_mask("pthread_sigmask SIG_SETMASK", 0);
    join_within(spawn(child, NULL), 10);

    /* The old set that the next change returns. */
    memset(&old, 0xa5, sizeof old);
    CHECK_OK(pthread_sigmask(SIG_SETMASK, &none, &old));
    CHECK(word_of(&old) == ~never);
    CHECK_EQ(((unsigned char *)&old)[sizeof(uint64_t)], 0xa5);
    memset(&old, 0xa5, sizeof old);
    CHECK_OK(pthread_sigmask(SIG_SETMASK, NULL, &old));
    CHECK(word_of(&old) == 0);
    CHECK_EQ(((unsigned char *)&old)[sizeof old - 1], 0xa5);

    CHECK_OK(sigprocmask(SIG_BLOCK, &all, NULL));
    check_full_mask("sigprocmask SIG_BLOCK", 1);
    CHECK_OK(sigprocmask(SIG_SETMASK, &none, NULL));

    /* Blocking just the two the kernel refuses leaves the mask empty. */
    sigset_t ks;
    sigemptyset(&ks);
    sigaddset(&ks, SIGKILL);
    sigaddset(&ks, SIGSTOP);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &ks, NULL));
    CHECK_OK(pthread_sigmask(SIG_SETMASK, NULL, &old));
    CHECK(word_of(&old) == 0);
    return NULL;
}

int
main(void)
{
    /* In a thread and in main. */
    join_within(spawn(run, NULL), 10);
    run(NULL);
    attr_masks();
    return 0;
}
