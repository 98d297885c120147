/* tests/blocking_unpreemptible.c
 * Behaviour: with GREENRUN_DEBUG=blocking, a thread that keeps a processor while others wait,
 * computing where the runtime may not preempt it (inside libc's printf of a long double to
 * 4,000 digits, called over and over for 400 ms), is named at exit as a site of its own kind:
 * "greenrun: blocking: not preemptible ... (libc.so.6 ...)". Three such threads share the
 * processors, and all of them finish. Natively nothing is reported.
 *
 * The program runs itself again (/proc/self/exe child) with its stderr on a pipe, since the
 * report is printed when the process exits.
 */
#include "check.h"

#include <stdatomic.h>

#define RUN_NS 400000000LL

static atomic_int done;

static void *
print_digits(void *arg)
{
    static __thread char buf[8192];
    long long until = now_ns(CLOCK_MONOTONIC) + RUN_NS;
    size_t total = 0;

    (void)arg;
    while (now_ns(CLOCK_MONOTONIC) < until)
        total += (size_t)snprintf(buf, sizeof buf, "%.4000Lf", 1e4000L);
    CHECK(total > 0);
    atomic_fetch_add(&done, 1);
    return NULL;
}

static int
child(void)
{
    pthread_t t[3];

    for (int i = 0; i < 3; i++)
        t[i] = spawn(print_digits, NULL);
    for (int i = 0; i < 3; i++)
        join_within(t[i], 60);
    CHECK_EQ(atomic_load(&done), 3);
    return 0; /* exit() prints the report */
}

int
main(int argc, char **argv)
{
    static char out[65536];
    int nreport = 0, nlibc = 0;

    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child();
    run_self_child(argv[0], "banner,blocking", out, sizeof out);
    for (char *line = out; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (strncmp(line, "greenrun: blocking: not preemptible ", 36) == 0) {
            nreport++;
            nlibc += strstr(line, "(libc.so.6") != NULL;
        }
        line = next;
    }
    if (test_green()) {
        CHECK(strstr(out, "greenrun: active") != NULL);
        CHECK(nreport >= 1);
        CHECK(nlibc >= 1);
    } else {
        CHECK_EQ(nreport, 0);
    }
    return 0;
}
