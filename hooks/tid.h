/*
 * hooks/tid.h: what hooks/tid.c offers the other hook files: the G a thread id or a CPU clock
 * id names, a G's CPU set, and the system-call forms of the calls that take a tid.
 */
#ifndef GR_HOOKS_TID_H
#define GR_HOOKS_TID_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "hooks/hook.h"

/* What a CPU clock id names (gr_hook_thread_clock). */
enum {
    GR_CLOCK_OTHER, /* not a thread's CPU clock, or a thread that is no G: the kernel's */
    GR_CLOCK_SELF,  /* the calling G's own */
    GR_CLOCK_G,     /* another live G's, held in *gp: gr_g_release it */
};
/* Context: green mode (the caller checked gr_hook_native). */
int gr_hook_thread_clock(clockid_t clock, struct g **gp);

/* pthread_{set,get}affinity_np and sched_{set,get}affinity on gp: 0 or an error number.
 * get fills size bytes of set as glibc does (EINVAL when size is too small for the kernel). */
int gr_hook_setaffinity(struct g *gp, size_t size, const cpu_set_t *set);
int gr_hook_getaffinity(struct g *gp, size_t size, cpu_set_t *set);

/*
 * A /proc path for the calling thread: /proc/self/task/TID/... and /proc/PID/task/TID/...
 * (PID this process's) where TID is a G's id (not the main G's, which is the initial OS
 * thread's too) become the directory of the OS thread that runs that G now, the initial
 * thread's when it runs nowhere. Returns path or buf (len bytes).
 */
const char *gr_hook_proc_path(const char *path, char *buf, size_t len);

/*
 * syscall(nr, a...) for the calls that take or return a thread id or read a CPU clock: true
 * with *ret (syscall()'s return value, errno set on -1) when nr is one of them and acts on a
 * G, false when the real call should be made. Context: green mode, any thread.
 */
bool gr_hook_tid_syscall(long nr, const long a[6], long *ret);

#endif /* GR_HOOKS_TID_H */
