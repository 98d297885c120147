/* tests/gc_trace.c
 * Behaviour: GREENRUN_DEBUG=gctrace prints one line per collection on stderr, like Go's
 * gctrace: its number (1, 2, 3, ... in order), the heap before and after in MB, the goal,
 * the objects freed, the pause with its stop, mark and sweep times, and the Ms stopped. A
 * child that drops 64 MB of 100-byte objects under GREENRUN_GC=collect (from the .conf) with
 * GREENRUN_GC_PERCENT=50 runs several collections, each leaving less than the 4 MB minimum
 * heap. A collection given up says "not run" under the number the next one takes.
 * Natively the child runs and there is nothing to read.
 *
 * The program runs itself again (/proc/self/exe child) with its stderr on a pipe.
 */
#include "check.h"

#define DROP_BYTES ((size_t)64 << 20)
#define OBJ_SIZE   100

/* Drops half of DROP_BYTES; each object reads back what was written in it. */
static void *
dropper(void *arg)
{
    size_t n = 0, sum = 0;

    (void)arg;
    for (size_t done = 0; done < DROP_BYTES / 2; done += OBJ_SIZE, n++) {
        unsigned char *p = malloc(OBJ_SIZE);
        CHECK(p != NULL);
        memset(p, 0x3c, OBJ_SIZE);
        sum += p[OBJ_SIZE - 1];
    }
    CHECK_EQ(sum, n * 0x3c);
    return NULL;
}

static int
child(void)
{
    pthread_t t;

    CHECK_OK(pthread_create(&t, NULL, dropper, NULL));
    dropper(NULL);
    CHECK_OK(pthread_join(t, NULL));
    return 0;
}

int
main(int argc, char **argv)
{
    static char out[1 << 20];
    const char *gc = getenv("GREENRUN_GC");
    unsigned long lines = 0;

    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child();
    if (!test_green() || gc == NULL || strcmp(gc, "collect") != 0)
        return child();
    run_self_child(argv[0], "banner,gctrace", out, sizeof(out));
    for (char *line = out; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        unsigned long n, before, after, goal, freed;
        if (nl != NULL)
            *nl = '\0';
        if (strncmp(line, "greenrun: gc ", 13) == 0 && strstr(line, ": not run: ") != NULL) {
            /* A collection given up (an M slow to stop on a loaded machine): the next one
             * that runs takes its number. */
            CHECK(sscanf(line, "greenrun: gc %lu:", &n) == 1);
            CHECK_EQ(n, lines + 1);
        } else if (strncmp(line, "greenrun: gc ", 13) == 0) {
            CHECK(sscanf(line, "greenrun: gc %lu @%*[0-9.]s: %lu->%lu MB, %lu MB goal, %lu objects",
                         &n, &before, &after, &goal, &freed) == 5);
            CHECK_EQ(n, lines + 1);
            CHECK(after < 4 && goal >= 4 && freed > 0);
            CHECK(strstr(line, "pause ") != NULL && strstr(line, "mark ") != NULL &&
                  strstr(line, "sweep ") != NULL && strstr(line, "Ms stopped") != NULL);
            lines++;
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    printf("%lu collections traced\n", lines);
    CHECK(lines >= 5);
    return 0;
}
