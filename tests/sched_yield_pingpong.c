/* tests/sched_yield_pingpong.c
 * Behaviour: sched_yield really lets other runnable threads run: two (then four) threads that
 * take turns through an atomic variable, waiting with sched_yield, complete 10,000 turns each
 * (1,000 natively) within the join bound, no turn waiting for 10,000,000 yields. On a single
 * processor (GREENRUN_PROCS=1) each yield hands the processor to another player, so a player
 * waits at most players - 1 yields for its turn: all the turns take at most twice that many
 * yields in all (a yield that does not switch gives a spin of about 10 ms, hundreds of
 * thousands of yields, per turn, until a preemption).
 */
#include "check.h"

#include <stdatomic.h>

#define MAX_YIELDS_PER_TURN 10000000L

/* Natively the kernel's sched_yield on a loaded machine lets other processes run first: a turn
 * can take milliseconds there, so native runs take fewer turns. */
static long turns;
static atomic_int turn;
static atomic_long total_yields;
static int nplayers;

static void *
player(void *arg)
{
    int me = (int)(long)arg;
    long yields = 0;
    for (long i = 0; i < turns; i++) {
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
    long yields = atomic_load(&total_yields);
    fprintf(stderr, "%d players x %ld turns: %lld ms, %ld yields\n", players, turns, took / 1000000,
            yields);
    CHECK_EQ(atomic_load(&turn), 0);
    /* One processor: the count of yields does not depend on the machine's load. (With more
     * processors, or natively, waiting players spin side by side as long as the machine lets
     * them; the join bound above is what holds there.) */
    if (test_green() && green_procs() == 1) {
        long most = 2L * (players - 1) * players * turns;
        if (yields > most) {
            char v[128];
            snprintf(v, sizeof v, "%ld yields for %ld turns of %d players, at most %ld", yields,
                     turns * players, players, most);
            check_fail(__FILE__, __LINE__, "yields <= 2 * (players - 1) * players * turns", v);
        }
    }
}

int
main(void)
{
    turns = scale(10000, 1000);
    play(2);
    play(4);
    return 0;
}
