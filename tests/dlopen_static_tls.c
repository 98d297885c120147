/* tests/dlopen_static_tls.c
 * Behaviour: a library whose TLS uses the initial-exec model, dlopen'ed while threads already
 * exist, shows every thread its initial values: the ones created before the dlopen, the one
 * that called it, and the ones created after; each thread's copy is its own.
 */
#include "check.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdatomic.h>

#define EARLY 64
#define LATE  16

static int (*get_value)(void);
static int (*zero_sum)(void);
static atomic_int loaded;

/* Waits for the dlopen, then reads its own copy, changes it, and reads it again. */
static void *
reader(void *arg)
{
    (void)arg;
    WAIT_FOR(atomic_load(&loaded), 30);
    CHECK_EQ(get_value(), 42);
    CHECK_EQ(zero_sum(), 0); /* sets its own first byte to 1 */
    CHECK_EQ(zero_sum(), 1);
    return NULL;
}

int
main(void)
{
    char exe[PATH_MAX], lib[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0);
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    CHECK(slash != NULL);
    *slash = '\0';
    snprintf(lib, sizeof lib, "%s/../lib/libstatictls.so", exe);

    pthread_t early[EARLY], late[LATE];
    for (int i = 0; i < EARLY; i++)
        early[i] = spawn(reader, NULL);
    check_green_threads(EARLY + 1);
    void *h = dlopen(lib, RTLD_NOW);
    if (h == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", lib, dlerror());
        CHECK(h != NULL);
    }
    get_value = (int (*)(void))dlsym(h, "statictls_get");
    zero_sum = (int (*)(void))dlsym(h, "statictls_zero_sum");
    CHECK(get_value != NULL && zero_sum != NULL);
    CHECK_EQ(get_value(), 42);
    atomic_store(&loaded, 1);
    for (int i = 0; i < LATE; i++)
        late[i] = spawn(reader, NULL);
    reader(NULL);
    for (int i = 0; i < EARLY; i++)
        join_within(early[i], 30);
    for (int i = 0; i < LATE; i++)
        join_within(late[i], 30);
    check_green_threads(1);
    return 0;
}
