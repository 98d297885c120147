/*
 * runtime/libc.c: resolution of the real functions (see libc.h).
 *
 * Locks: none; it runs once, in the constructor.
 */
#include "runtime/libc.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtime/sys.h"

struct gr_real gr_real;
struct gr_real_compat gr_real_compat;

/*
 * True for a version newer than glibc 2.34, the oldest glibc greenrun supports: a name glibc
 * added later is listed with its version and may be missing from this libc. Its gr_real
 * entry then stays NULL and its hook makes the system call itself.
 */
static bool
newer_than_floor(const char *ver)
{
    static const char prefix[] = "GLIBC_2.";
    int minor = 0;

    for (size_t i = 0; i < sizeof(prefix) - 1; i++)
        if (ver[i] != prefix[i])
            return false;
    for (const char *s = ver + sizeof(prefix) - 1; *s >= '0' && *s <= '9'; s++)
        minor = minor * 10 + (*s - '0');
    return minor > 34;
}

int
gr_libc_resolve(const char **missing)
{
    void *p;

#define HOOK(fam, name, ver)                                     \
    p = (ver)[0] != '\0' ? dlvsym(RTLD_NEXT, #name, ver) : NULL; \
    if (p == NULL)                                               \
        p = dlsym(RTLD_NEXT, #name);                             \
    if (p == NULL && !newer_than_floor(ver)) {                   \
        *missing = #name;                                        \
        return -1;                                               \
    }                                                            \
    gr_real.name = (__typeof__(gr_real.name))p;
#define COMPAT(fam, name, old, new)    \
    p = dlvsym(RTLD_NEXT, #name, old); \
    if (p == NULL) {                   \
        *missing = #name "@" old;      \
        return -1;                     \
    }                                  \
    gr_real_compat.name = (__typeof__(gr_real_compat.name))p;
#include "runtime/libc.def"
#undef COMPAT
#undef HOOK
    /* The runtime's clocks must not go through the clock_gettime hook. */
    gr_sys_use_clock(gr_real.clock_gettime);
    return 0;
}
