/*
 * hooks/setxid.c: setuid() and the rest of the credential family.
 *
 * Linux credentials belong to each OS thread, so glibc's __nptl_setxid makes the calling
 * thread do the system call and signals every other thread it lists to do the same,
 * skipping the one whose descriptor is THREAD_SELF. Run on a G, THREAD_SELF is the G's
 * descriptor, which glibc does not list (so the calling M would be signalled as a stranger,
 * which the SIGSETXID wrapper in runtime/tls.c handles) or, for the main G on an M other
 * than the initial thread, the initial thread's descriptor (so the initial thread would be
 * skipped and keep its old credentials). The call therefore runs on the descriptor glibc
 * lists for the running OS thread; errno is carried back to the G's own.
 *
 * Locks: none.
 */
#include <grp.h>
#include <unistd.h>

#include "hooks/hook.h"

/* Run call with THREAD_SELF = the running M's own listed descriptor (runtime/tls.h). */
#define ON_OWN_DESCRIPTOR(call)                \
    do {                                       \
        uintptr_t prev_;                       \
        int ret_, err_;                        \
        if (gr_hook_g() == NULL)               \
            return call;                       \
        prev_ = gr_tls_enter_m(GR_TLS_LISTED); \
        if (prev_ == 0)                        \
            return call;                       \
        ret_ = call;                           \
        err_ = gr_tls_leave_m(prev_);          \
        if (ret_ != 0)                         \
            errno = err_;                      \
        return ret_;                           \
    } while (0)

GR_EXPORT int
setuid(uid_t uid)
{
    ON_OWN_DESCRIPTOR(gr_real.setuid(uid));
}

GR_EXPORT int
setgid(gid_t gid)
{
    ON_OWN_DESCRIPTOR(gr_real.setgid(gid));
}

GR_EXPORT int
seteuid(uid_t uid)
{
    ON_OWN_DESCRIPTOR(gr_real.seteuid(uid));
}

GR_EXPORT int
setegid(gid_t gid)
{
    ON_OWN_DESCRIPTOR(gr_real.setegid(gid));
}

GR_EXPORT int
setreuid(uid_t r, uid_t e)
{
    ON_OWN_DESCRIPTOR(gr_real.setreuid(r, e));
}

GR_EXPORT int
setregid(gid_t r, gid_t e)
{
    ON_OWN_DESCRIPTOR(gr_real.setregid(r, e));
}

GR_EXPORT int
setresuid(uid_t r, uid_t e, uid_t s)
{
    ON_OWN_DESCRIPTOR(gr_real.setresuid(r, e, s));
}

GR_EXPORT int
setresgid(gid_t r, gid_t e, gid_t s)
{
    ON_OWN_DESCRIPTOR(gr_real.setresgid(r, e, s));
}

GR_EXPORT int
setgroups(size_t n, const gid_t *list)
{
    ON_OWN_DESCRIPTOR(gr_real.setgroups(n, list));
}
