/* tests/signal_action_race.c
 * Behaviour: a handler installed with SA_SIGINFO always gets its siginfo and context, and a
 * plain handler runs as a plain one, even while another thread keeps switching the signal's
 * action between the two: sigaction changes the handler and its flags together, as the kernel
 * does, so no signal ever pairs one action's handler with the other's flags.
 */
#include "check.h"

#include <signal.h>
#include <stdatomic.h>

#define RUN_NS      1500000000LL /* how long the two threads race */
#define MAX_SIGNALS 400000

static atomic_long info_calls, plain_calls, bad_calls;
static atomic_int stop, switching;

static void
on_info(int sig, siginfo_t *si, void *uc)
{
    atomic_fetch_add(&info_calls, 1);
    /* Called as a plain handler, si and uc would be whatever the registers held. */
    if (sig != SIGUSR1 || si == NULL || uc == NULL || si->si_signo != SIGUSR1 ||
        si->si_code != SI_TKILL || si->si_pid != getpid())
        atomic_fetch_add(&bad_calls, 1);
}

static void
on_plain(int sig)
{
    atomic_fetch_add(&plain_calls, 1);
    if (sig != SIGUSR1)
        atomic_fetch_add(&bad_calls, 1);
}

/* Switches SIGUSR1 between the two actions until told to stop. */
static void *
switcher(void *arg)
{
    struct sigaction info, plain;
    (void)arg;
    memset(&info, 0, sizeof info);
    sigemptyset(&info.sa_mask);
    info.sa_sigaction = on_info;
    info.sa_flags = SA_SIGINFO | SA_RESTART;
    memset(&plain, 0, sizeof plain);
    sigemptyset(&plain.sa_mask);
    plain.sa_handler = on_plain;
    plain.sa_flags = SA_RESTART;
    while (!atomic_load(&stop)) {
        atomic_store(&switching, 1);
        CHECK_OK(sigaction(SIGUSR1, &info, NULL));
        CHECK_OK(sigaction(SIGUSR1, &plain, NULL));
    }
    return NULL;
}

int
main(void)
{
    struct sigaction first;
    memset(&first, 0, sizeof first);
    sigemptyset(&first.sa_mask);
    first.sa_handler = on_plain;
    CHECK_OK(sigaction(SIGUSR1, &first, NULL));

    pthread_t sw = spawn(switcher, NULL);
    WAIT_FOR(atomic_load(&switching), 10); /* the race needs both threads running */
    check_green_threads(2);
    long long end = now_ns(CLOCK_MONOTONIC) + RUN_NS;
    long sent = 0;
    while (sent < MAX_SIGNALS && now_ns(CLOCK_MONOTONIC) < end) {
        CHECK_OK(pthread_kill(pthread_self(), SIGUSR1));
        sent++;
    }
    atomic_store(&stop, 1);
    join_within(sw, 10);

    fprintf(stderr, "%ld signals: %ld SA_SIGINFO handler calls, %ld plain, %ld wrong\n", sent,
            atomic_load(&info_calls), atomic_load(&plain_calls), atomic_load(&bad_calls));
    CHECK_EQ(atomic_load(&bad_calls), 0);
    CHECK_EQ(atomic_load(&info_calls) + atomic_load(&plain_calls), sent);
    return 0;
}
