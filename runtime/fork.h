/*
 * runtime/fork.h: the runtime in a fork child (fork.c).
 */
#ifndef GR_RUNTIME_FORK_H
#define GR_RUNTIME_FORK_H

/* In a fork child, on the forking G: reset to one M running it, a fresh g0, no other G, and
 * restart sysmon (DESIGN.md "fork and exec"). Registered as the first atfork child handler;
 * the _Fork hook calls it too. */
void gr_fork_child(void);

#endif /* GR_RUNTIME_FORK_H */
