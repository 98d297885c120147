/*
 * preload/control_client.c: the launcher's subcommands that talk to a running program:
 *
 *     greenrun dump PID      every thread (G) of PID: state, wait reason, backtrace
 *     greenrun report PID    PID's blocking profile now
 *     greenrun top PID [-n COUNT] [-d SECONDS]
 *                            PID's threads by state, run queues, OS threads, switch and steal
 *                            rates, refreshed every SECONDS (1) COUNT times (until ^C)
 *     greenrun ps            the greenrun processes of this user
 *
 * The first three attach as runtime/control.h describes: connect to /tmp/greenrun-UID/PID.sock,
 * and when it is not there yet, ask for it with sigqueue(SIGQUIT, GR_CONTROL_ATTACH) and wait
 * for it up to 5 s. A process is only signalled after its /proc/PID/maps shows libgreenrun.so
 * (SIGQUIT would kill any other) and its owner is this user (or we are root).
 *
 * An ordinary program: stdio and malloc are fine.
 */
#include "preload/control_client.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "runtime/control.h"

#define ATTACH_WAIT_MS 5000

/* SIGQUIT's bit in /proc/pid/status's mask `key` (SigIgn, SigCgt, SigBlk). */
static bool
quit_in_mask(int pid, const char *key)
{
    char path[64], line[256];
    unsigned long long mask = 0;
    size_t n = strlen(key);
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", pid);
    f = fopen(path, "re");
    if (f == NULL)
        return false;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, key, n) == 0 && line[n] == ':')
            mask = strtoull(line + n + 1, NULL, 16);
    fclose(f);
    return (mask >> (SIGQUIT - 1)) & 1;
}

/* Does /proc/pid/maps map libgreenrun.so? */
static bool
runs_greenrun(int pid)
{
    char path[64], line[4096];
    bool found = false;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    f = fopen(path, "re");
    if (f == NULL)
        return false;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = strstr(line, "/libgreenrun.so") != NULL;
    fclose(f);
    return found;
}

static int
connect_to(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof a.sun_path)
        return -1;
    strcpy(a.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A connection to pid's control socket, asking for it if need be; -1 with a message. */
static int
attach(int pid)
{
    char dir[64], path[128];
    struct stat st;
    int fd;

    snprintf(dir, sizeof dir, GR_CONTROL_DIR_FMT, (unsigned)getuid());
    snprintf(path, sizeof path, "%s/%d.sock", dir, pid);
    fd = connect_to(path);
    if (fd >= 0)
        return fd;
    snprintf(path, sizeof path, "/proc/%d", pid);
    if (stat(path, &st) != 0) {
        fprintf(stderr, "greenrun: no process %d\n", pid);
        return -1;
    }
    if (st.st_uid != getuid() && getuid() != 0) {
        fprintf(stderr, "greenrun: process %d belongs to another user\n", pid);
        return -1;
    }
    if (!runs_greenrun(pid)) {
        fprintf(stderr,
                "greenrun: process %d does not run under greenrun (no libgreenrun.so "
                "in its /proc/%d/maps)\n",
                pid, pid);
        return -1;
    }
    if (!quit_in_mask(pid, "SigCgt")) {
        fprintf(stderr,
                "greenrun: process %d %s SIGQUIT, so it cannot be asked for its control socket "
                "(a shell without job control starts background jobs with SIGQUIT ignored; "
                "start it with 'env --default-signal=QUIT' or from an interactive shell)\n",
                pid, quit_in_mask(pid, "SigIgn") ? "ignores" : "does not catch");
        return -1;
    }
    if (sigqueue(pid, SIGQUIT, (union sigval){ .sival_int = GR_CONTROL_ATTACH }) != 0) {
        fprintf(stderr, "greenrun: cannot signal process %d: %s\n", pid, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/%d.sock", dir, pid);
    for (int waited = 0; waited < ATTACH_WAIT_MS; waited += 20) {
        struct timespec ts = { .tv_nsec = 20000000 };
        fd = connect_to(path);
        if (fd >= 0)
            return fd;
        nanosleep(&ts, NULL);
    }
    fprintf(stderr,
            "greenrun: process %d did not open %s within 5 s (a program that handles SIGQUIT "
            "itself gets the request instead)\n",
            pid, path);
    return -1;
}

/* Send cmd and copy the answer to out (or into buf when out is NULL); 0 or -1. */
static int
ask(int pid, const char *cmd, FILE *out, char *buf, size_t size)
{
    int fd = attach(pid);
    size_t len = 0;
    char chunk[4096];
    ssize_t n;

    if (fd < 0)
        return -1;
    if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd) || write(fd, "\n", 1) != 1) {
        fprintf(stderr, "greenrun: process %d: %s\n", pid, strerror(errno));
        close(fd);
        return -1;
    }
    while ((n = read(fd, chunk, sizeof chunk)) > 0) {
        if (out != NULL) {
            fwrite(chunk, 1, (size_t)n, out);
        } else {
            size_t k = (size_t)n < size - 1 - len ? (size_t)n : size - 1 - len;
            memcpy(buf + len, chunk, k);
            len += k;
        }
    }
    if (buf != NULL)
        buf[len] = '\0';
    close(fd);
    return 0;
}

/* "name value" of a top answer, or -1. */
static double
field(const char *text, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

/* /proc/pid/comm without its newline, or "?". */
static void
comm_of(int pid, char *buf, size_t size)
{
    char path[64];
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    snprintf(buf, size, "?");
    f = fopen(path, "re");
    if (f == NULL)
        return;
    if (fgets(buf, (int)size, f) != NULL)
        buf[strcspn(buf, "\n")] = '\0';
    fclose(f);
}

static int
top(int pid, long count, double every)
{
    char now[4096], prev[4096] = "", name[64];
    bool tty = isatty(STDOUT_FILENO);

    comm_of(pid, name, sizeof name);
    for (long i = 0; count <= 0 || i < count; i++) {
        if (ask(pid, "top", NULL, now, sizeof now) != 0)
            return 1;
        if (field(now, "procs") < 0) {
            fputs(now, stderr);
            return 1;
        }
        double dt =
            prev[0] != '\0' ? (field(now, "uptime_ns") - field(prev, "uptime_ns")) / 1e9 : 0;
        if (tty)
            fputs("\033[H\033[2J", stdout);
        printf("greenrun top: process %d (%s)\n", pid, name);
        printf("threads (Gs): %.0f live: %.0f running, %.0f runnable, %.0f waiting, %.0f in "
               "system calls; %.0f created in all\n",
               field(now, "live"), field(now, "gs_running"), field(now, "gs_runnable"),
               field(now, "gs_waiting"), field(now, "gs_syscall"), field(now, "created"));
        printf("processors (Ps): %.0f: %.0f running, %.0f in system calls, %.0f idle\n",
               field(now, "procs"), field(now, "ps_running"), field(now, "ps_syscall"),
               field(now, "ps_idle"));
        printf("run queues: %.0f local, %.0f global\n", field(now, "runq_local"),
               field(now, "runq_global"));
        printf("OS threads (Ms): %.0f: %.0f idle, %.0f spinning\n", field(now, "ms"),
               field(now, "ms_idle"), field(now, "ms_spinning"));
        if (dt > 0)
            printf("switches %.0f/s, steals %.0f/s, threads created %.0f/s\n",
                   (field(now, "switches") - field(prev, "switches")) / dt,
                   (field(now, "steals") - field(prev, "steals")) / dt,
                   (field(now, "created") - field(prev, "created")) / dt);
        else
            printf("switches -, steals -, threads created - (rates from the second sample)\n");
        fflush(stdout);
        memcpy(prev, now, sizeof prev);
        if (count <= 0 || i + 1 < count) {
            struct timespec ts = { .tv_sec = (time_t)every,
                                   .tv_nsec = (long)((every - (double)(time_t)every) * 1e9) };
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}

static int
ps(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        perror("greenrun: /proc");
        return 1;
    }
    printf("%8s %8s  %s\n", "PID", "THREADS", "COMMAND");
    while ((e = readdir(d)) != NULL) {
        char path[300], name[64], line[256];
        struct stat st;
        long threads = -1;
        int pid = atoi(e->d_name);
        FILE *f;

        if (pid <= 0 || pid == getpid())
            continue;
        snprintf(path, sizeof path, "/proc/%d", pid);
        if (stat(path, &st) != 0 || (st.st_uid != getuid() && getuid() != 0) || !runs_greenrun(pid))
            continue;
        snprintf(path, sizeof path, "/proc/%d/status", pid);
        f = fopen(path, "re");
        while (f != NULL && fgets(line, sizeof line, f) != NULL)
            if (strncmp(line, "Threads:", 8) == 0)
                threads = atol(line + 8);
        if (f != NULL)
            fclose(f);
        comm_of(pid, name, sizeof name);
        printf("%8d %8ld  %s\n", pid, threads, name);
        n++;
    }
    closedir(d);
    return 0;
}

/* PID as a positive decimal number, or -1. */
static int
parse_pid(const char *s)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > 0x3fffffff)
        return -1;
    return (int)v;
}

bool
gr_cli_is_command(int argc, char **argv)
{
    if (argc < 2)
        return false;
    if (strcmp(argv[1], "ps") == 0)
        return argc == 2;
    if (strcmp(argv[1], "dump") == 0 || strcmp(argv[1], "report") == 0 ||
        strcmp(argv[1], "top") == 0)
        return argc >= 3 && parse_pid(argv[2]) > 0;
    return false;
}

int
gr_cli_run(int argc, char **argv)
{
    int pid = argc >= 3 ? parse_pid(argv[2]) : -1;

    if (strcmp(argv[1], "ps") == 0)
        return ps();
    if (strcmp(argv[1], "dump") == 0 || strcmp(argv[1], "report") == 0) {
        if (argc != 3) {
            fprintf(stderr, "usage: greenrun %s PID\n", argv[1]);
            return 2;
        }
        return ask(pid, argv[1], stdout, NULL, 0) == 0 && fflush(stdout) == 0 ? 0 : 1;
    }
    /* top PID [-n COUNT] [-d SECONDS] */
    long count = 0;
    double every = 1;
    for (int i = 3; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            count = strtol(argv[++i], &end, 10);
            if (*end != '\0' || count <= 0) {
                fprintf(stderr, "greenrun top: -n wants a positive count, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
            every = strtod(argv[++i], &end);
            if (*end != '\0' || !(every >= 0.05 && every <= 3600)) {
                fprintf(stderr, "greenrun top: -d wants seconds from 0.05 to 3600, not '%s'\n",
                        argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: greenrun top PID [-n COUNT] [-d SECONDS]\n");
            return 2;
        }
    }
    return top(pid, count, every);
}
