/*
 * runtime/control.h: the control socket, through which `greenrun dump|report|top PID` reach a
 * running program (control.c).
 *
 * Nothing exists until a client asks: the launcher sends SIGQUIT with sigqueue and the value
 * GR_CONTROL_ATTACH (the kernel fills in the sender's uid), like the JVM's attach protocol.
 * The runtime then starts one thread, not an M running Gs, that listens on
 * /tmp/greenrun-UID/PID.sock in a directory of mode 0700 owned by the user, and serves one
 * command per connection from the same user (SO_PEERCRED) or root. Never for a set-uid
 * program (AT_SECURE). The thread needs no P, so it answers when every P is stuck.
 */
#ifndef GR_RUNTIME_CONTROL_H
#define GR_RUNTIME_CONTROL_H

#include <signal.h>
#include <stdbool.h>

/* sigqueue's value that asks for the control socket instead of a dump. */
#define GR_CONTROL_ATTACH 0x67726e31 /* "grn1" */

/* The directory of the sockets of user uid, into buf; the launcher uses the same name. */
#define GR_CONTROL_DIR_FMT "/tmp/greenrun-%u"

/*
 * Is si a client's request for the control socket (SI_QUEUE, the value above, sent by this
 * user or root)? If so, remember it for sysmon. Context: the SIGQUIT handler;
 * async-signal-safe.
 */
bool gr_control_attach_signal(const siginfo_t *si);

/* sysmon's round: start the control thread once a client asked. Context: sysmon. */
void gr_control_sysmon(void);

/* At exit: remove the socket. Context: exit's destructors. */
void gr_control_exit(void);

/* In a fork child: the socket and its thread are the parent's; forget them (the descriptor
 * is closed, the path left alone). */
void gr_control_fork_child(void);

#endif /* GR_RUNTIME_CONTROL_H */
