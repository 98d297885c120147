/*
 * runtime/sigroute.h: signals sent to the process, passed to the G that the kernel would have
 * chosen among threads (sigroute.c).
 */
#ifndef GR_RUNTIME_SIGROUTE_H
#define GR_RUNTIME_SIGROUTE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct g;
struct m;

/* The G the kernel offers a process signal first: the main G, or in a fork child the G that
 * forked (the child's only thread). Context: boot. */
void gr_sigroute_leader(struct g *gp);
/* sysmon was started: from now on the wrapper may queue signals for it. Context: boot, fork
 * child. */
void gr_sigroute_start(void);
/*
 * In the wrapper, for sig delivered to this M (running gp; NULL on g0): true when it was sent
 * to the process and another G must take it (the main G does not block it, gp blocks it or
 * waits for it in sigwait, or the M is between Gs). It is then queued for the router, which
 * runs in sysmon, and the caller runs nothing. Async-signal-safe.
 */
bool gr_sigroute_divert(struct m *mp, struct g *gp, int sig, const siginfo_t *si);
/* Would the kernel give a signal sent to the process now to gp (running: it does not block
 * it, and the main G is gp or does not take it)? */
bool gr_sigroute_picks(struct g *gp, int sig);
/* kill or sigqueue of its own process by a G: routed now, before the call returns, as the
 * kernel makes a signal pending before kill returns (a program that blocks a signal, sends
 * it to itself and calls sigpending or a zero-timeout sigtimedwait finds it): recorded on
 * the G the kernel would pick and that G woken, or held while every G blocks it. A signal
 * the program does not catch (caught false) is routed only to be held: when some G takes it,
 * false, and the kernel's default action (or ignoring it) is the caller's to ask for. */
bool gr_sigroute_send(int sig, const siginfo_t *info, bool caught);
/* sysmon's round: give each queued signal to a G, or hold it (gr_sched.sigheld) while every
 * G blocks it; keep sysmon's own mask open to the signals the program catches, so that one
 * sent while every M blocks it still reaches the router. Context: sysmon. */
void gr_sigroute_sysmon(void);
/* gr_signal_publish: the program now catches sig, or no longer does. */
void gr_sigroute_caught(int sig, bool caught);
/* Held signals: take the lowest of set with its value (0 when none), for a sigwait. */
int gr_sigroute_take_held(uint64_t set, siginfo_t *info);
/* Held signals: record those of set on gp, whose mask lets them through. */
void gr_sigroute_claim(struct g *gp, uint64_t set);
/* Forget the held signals sig (the program now ignores it). */
void gr_sigroute_discard(int sig);
/* In a fork child, which has no pending signal: gp, the forking G, leads. */
void gr_sigroute_fork_child(struct g *gp);

#endif /* GR_RUNTIME_SIGROUTE_H */
