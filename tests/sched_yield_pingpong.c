/* tests/sched_yield_pingpong.c
 * Behaviour: sched_yield really lets other runnable threads run: two (then four) threads that
 * take turns through an atomic variable, waiting with sched_yield, complete 10,000 turns each
 * quickly, even on a single processor (GREENRUN_PROCS=1).
 */
#include "check.h"

#include <stdatomic.h>

#define TURNS 10000
#define MAX_YIELDS_PER_TURN 10000000L

static atomic_int turn;
static atomic_long total_yields;
static int nplayers;

static void *
player(void *arg)
{
    int me = (int)(long)arg;
    long yields = 0;
    for (int i = 0; i < TURNS; i++) {
        long waited = 0;
        while (atomic_load(&turn) != me) {
            CHECK_OK(sched_yield());
            /* Bounded: a yield that never lets the other player run fails here, not by timeout. */
            if (++waited > MAX_YIELDS_PER_TURN)
                CHECK(!"the other player never ran");
        }
        yields += waited;
        atomic_store(&turn, (me + 1) % nplayers);
    }
    atomic_fetch_add(&total_yields, yields);
    return NULL;
}

static void
play(int players)
{
    nplayers = players;
    atomic_store(&turn, 0);
    atomic_store(&total_yields, 0);
    pthread_t t[8];
    long long t0 = now_ns(CLOCK_MONOTONIC);
    for (long i = 0; i < players; i++)
        t[i] = spawn(player, (void *)i);
    for (int i = 0; i < players; i++)
        join_within(t[i], 30);
    long long took = now_ns(CLOCK_MONOTONIC) - t0;
    fprintf(stderr, "%d players x %d turns: %lld ms, %ld yields\n", players, TURNS,
            took / 1000000, atomic_load(&total_yields));
    CHECK_EQ(atomic_load(&turn), 0);
    /* Without a real yield each turn would wait for a 10 ms preemption: 100 s and more. */
    CHECK(took < 5000000000LL);
}

int
main(void)
{
    play(2);
    play(4);
    return 0;
}
