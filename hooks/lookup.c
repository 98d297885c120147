/*
 * hooks/lookup.c: name service lookups (hosts, services by address, users, groups).
 *
 * glibc answers them through NSS modules that read files, talk to DNS servers, nscd or
 * sssd with their own internal calls, which no hook sees: a lookup sleeps in the kernel on
 * its M. Each runs in syscall mode so sysmon hands the P on, and at most LOOKUP_MAX run at
 * once: a thousand threads resolving together would otherwise take a thousand OS threads.
 * The others park, in arrival order, until a slot frees (Go bounds its cgo lookups alike).
 * Calls a module makes through the PLT from inside find the G in syscall mode and pass
 * through to glibc.
 *
 * Locks: none; the count of lookups in progress is atomic.
 */
#include <grp.h>
#include <netdb.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/socket.h>

#include "hooks/hook.h"

#define LOOKUP_MAX 32u

static struct gr_atomic_u32 lookups; /* atomic: lookups in progress on Gs */

/* Take a slot, parking while LOOKUP_MAX lookups are in progress. */
static void
slot_take(void)
{
    for (;;) {
        uint32_t n = gr_load(&lookups);
        if (n < LOOKUP_MAX) {
            if (gr_cas(&lookups, &n, n + 1))
                return;
            continue;
        }
        /* Sleeps only while the count is still n: a release in between is not lost. A signal
         * runs its handler, then it waits on, as glibc retries the calls of a lookup. */
        if (gr_futex_wait(gr_atomic_word(&lookups), n, ~0u, -1, GR_WQ_SIGNAL, "lookup slot") ==
            -EINTR)
            gr_signal_eintr();
    }
}

static void
slot_give(void)
{
    gr_xadd(&lookups, (uint32_t)-1);
    gr_futex_wake(gr_atomic_word(&lookups), 1, ~0u);
}

/* Cleanup handler: a cancellation acted inside the lookup (glibc's resolver and netlink
 * queries are cancellation points); it never parks. */
static void
slot_give_cancelled(void *arg)
{
    (void)arg;
    slot_give();
}

/* Run call (of type type) as a lookup: a slot, then syscall mode; errno and h_errno are the
 * call's own (both live in the G's TLS). A cancellation inside gives the slot back. */
#define LOOKUP(type, call)                               \
    do {                                                 \
        type ret_;                                       \
        int err_;                                        \
        if (gr_hook_g() == NULL)                         \
            return call;                                 \
        slot_take();                                     \
        pthread_cleanup_push(slot_give_cancelled, NULL); \
        gr_entersyscall();                               \
        ret_ = call;                                     \
        err_ = errno;                                    \
        gr_exitsyscall();                                \
        pthread_cleanup_pop(0);                          \
        slot_give();                                     \
        errno = err_;                                    \
        return ret_;                                     \
    } while (0)

/* ---- Hosts and services. */

GR_EXPORT int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
            struct addrinfo **res)
{
    LOOKUP(int, gr_real.getaddrinfo(node, service, hints, res));
}

GR_EXPORT int
getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen, char *serv,
            socklen_t servlen, int flags)
{
    /* Numeric answers need no name service. */
    if ((flags & (NI_NUMERICHOST | NI_NUMERICSERV)) == (NI_NUMERICHOST | NI_NUMERICSERV))
        return gr_real.getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
    LOOKUP(int, gr_real.getnameinfo(sa, salen, host, hostlen, serv, servlen, flags));
}

GR_EXPORT struct hostent *
gethostbyname(const char *name)
{
    LOOKUP(struct hostent *, gr_real.gethostbyname(name));
}

GR_EXPORT struct hostent *
gethostbyname2(const char *name, int af)
{
    LOOKUP(struct hostent *, gr_real.gethostbyname2(name, af));
}

GR_EXPORT int
gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t len,
                struct hostent **result, int *herr)
{
    LOOKUP(int, gr_real.gethostbyname_r(name, ret, buf, len, result, herr));
}

GR_EXPORT int
gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf, size_t len,
                 struct hostent **result, int *herr)
{
    LOOKUP(int, gr_real.gethostbyname2_r(name, af, ret, buf, len, result, herr));
}

GR_EXPORT struct hostent *
gethostbyaddr(const void *addr, socklen_t len, int type)
{
    LOOKUP(struct hostent *, gr_real.gethostbyaddr(addr, len, type));
}

GR_EXPORT int
gethostbyaddr_r(const void *addr, socklen_t alen, int type, struct hostent *ret, char *buf,
                size_t len, struct hostent **result, int *herr)
{
    LOOKUP(int, gr_real.gethostbyaddr_r(addr, alen, type, ret, buf, len, result, herr));
}

/* ---- Users and groups (nsswitch may send them to LDAP or sssd). */

GR_EXPORT struct passwd *
getpwnam(const char *name)
{
    LOOKUP(struct passwd *, gr_real.getpwnam(name));
}

GR_EXPORT struct passwd *
getpwuid(uid_t uid)
{
    LOOKUP(struct passwd *, gr_real.getpwuid(uid));
}

GR_EXPORT int
getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len, struct passwd **result)
{
    LOOKUP(int, gr_real.getpwnam_r(name, pw, buf, len, result));
}

GR_EXPORT int
getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len, struct passwd **result)
{
    LOOKUP(int, gr_real.getpwuid_r(uid, pw, buf, len, result));
}

GR_EXPORT struct group *
getgrnam(const char *name)
{
    LOOKUP(struct group *, gr_real.getgrnam(name));
}

GR_EXPORT struct group *
getgrgid(gid_t gid)
{
    LOOKUP(struct group *, gr_real.getgrgid(gid));
}

GR_EXPORT int
getgrnam_r(const char *name, struct group *gr, char *buf, size_t len, struct group **result)
{
    LOOKUP(int, gr_real.getgrnam_r(name, gr, buf, len, result));
}

GR_EXPORT int
getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t len, struct group **result)
{
    LOOKUP(int, gr_real.getgrgid_r(gid, gr, buf, len, result));
}

GR_EXPORT int
getgrouplist(const char *user, gid_t group, gid_t *groups, int *ngroups)
{
    LOOKUP(int, gr_real.getgrouplist(user, group, groups, ngroups));
}
