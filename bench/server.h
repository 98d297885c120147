/*
 * bench/server.h: the listening side the benchmark servers share.
 *
 * echo-server, pool-server and db-server differ in how they serve a connection, not in how
 * they get one: all three listen on loopback, announce their port on stdout for the client
 * and the scripts, and accept with the same retry policy and socket options as Go's net
 * package, so their Go counterparts compare alike.
 */
#ifndef GR_BENCH_SERVER_H
#define GR_BENCH_SERVER_H

/*
 * Listen on 127.0.0.1:port (0 picks a free port) and print "port N" on stdout. prog names the
 * program in error messages. Returns the listening socket, or -1 after printing why.
 */
int srv_listen(const char *prog, int port);

/*
 * The next connection on ls, with TCP_NODELAY set (Go's net package sets it on every
 * connection). Interrupted and aborted accepts are retried; running out of descriptors or
 * memory waits 10 ms and retries, as a server under overload would. Returns -1 after printing
 * why on any other error.
 */
int srv_accept(const char *prog, int ls);

#endif
