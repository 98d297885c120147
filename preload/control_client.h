/*
 * preload/control_client.h: the launcher's subcommands that talk to a running program over its
 * control socket (dump, report, top) and list greenrun processes (ps); control_client.c.
 */
#ifndef GR_PRELOAD_CONTROL_CLIENT_H
#define GR_PRELOAD_CONTROL_CLIENT_H

#include <stdbool.h>

/* Is argv a subcommand ("ps", or "dump|report|top PID ...") rather than a program to run?
 * A program of one of those names runs with `greenrun -- NAME`. */
bool gr_cli_is_command(int argc, char **argv);

/* Run the subcommand; its exit status. */
int gr_cli_run(int argc, char **argv);

#endif /* GR_PRELOAD_CONTROL_CLIENT_H */
