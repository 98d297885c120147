/*
 * runtime/netpoll.h: the netpoller (DESIGN.md "I/O and the netpoller"), Go's netpoll.go.
 *
 * Scheduler side (proc.c, sysmon.c call these):
 *   gr_netpoll_inited()  true once some descriptor was registered (the epoll instance exists)
 *   gr_netpoll_waiters() Gs parked on I/O right now (atomic); the scheduler polls only if > 0
 *   gr_netpoll(until)    wait for events until `until` (absolute CLOCK_MONOTONIC ns; 0 = do
 *                        not block; INT64_MAX = no timeout), and gr_ready() every G they
 *                        concern; returns how many were readied. At most one M blocks in it
 *                        at a time (the scheduler guarantees it); non-blocking calls may come
 *                        from any M at any time. Runs on g0 or sysmon: must not read TLS.
 *   gr_netpoll_break()   make a blocked gr_netpoll return now (an eventfd write); cheap and
 *                        safe from any thread, coalesced while one is pending.
 * I/O side (hooks): see the rest of this header.
 */
#ifndef GR_RUNTIME_NETPOLL_H
#define GR_RUNTIME_NETPOLL_H

#include <stdbool.h>
#include <stdint.h>

bool gr_netpoll_inited(void);
int32_t gr_netpoll_waiters(void);
int gr_netpoll(int64_t until);
void gr_netpoll_break(void);

#endif /* GR_RUNTIME_NETPOLL_H */
