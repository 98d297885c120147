/*
 * runtime/libc.h: the real libc functions behind every interposed name (libc.def).
 *
 * gr_real is filled by gr_libc_resolve() with dlsym/dlvsym(RTLD_NEXT) before boot, so hooks
 * and the runtime reach glibc's own implementation without recursing into the hooks.
 */
#ifndef GR_RUNTIME_LIBC_H
#define GR_RUNTIME_LIBC_H

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv,
                      void (*init)(void), void (*fini)(void), void (*rtld_fini)(void),
                      void *stack_end);

/* Some interposed names are deprecated (pthread_yield, pthread_mutex_consistent_np): they
 * still exist, and binaries still call them. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct gr_real {
#define HOOK(fam, name, ver) __typeof__(&name) name;
#include "runtime/libc.def"
#undef HOOK
};
#pragma GCC diagnostic pop

extern struct gr_real gr_real;

/* Resolve every entry; returns 0, or -1 naming the first missing one in *missing. */
int gr_libc_resolve(const char **missing);

#endif /* GR_RUNTIME_LIBC_H */
