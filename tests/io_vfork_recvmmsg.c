/* tests/io_vfork_recvmmsg.c
 * Behaviour: a vfork child that closes its copy of a descriptor number and then receives
 * another descriptor on that same number with recvmmsg (SCM_RIGHTS) leaves the parent alone:
 * the parent's thread blocked reading that number keeps waiting, and gets its data once the
 * parent writes it. (The child's descriptor table is its own; only its memory is the parent's.)
 */
#include "check.h"

#include <sys/syscall.h>
#include <sys/wait.h>

/* Exit statuses of the vfork child. */
enum {
    CHILD_OK = 0,
    CHILD_CLOSE = 10,
    CHILD_RECV = 11,
    CHILD_NO_RIGHTS = 12,
    CHILD_NOT_REUSED = 13, /* the received descriptor did not land on the closed number */
};

/* Send fd over sock with SCM_RIGHTS, one byte of data. */
static void
send_fd(int sock, int fd)
{
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } ctl;
    char byte = 'r';
    struct iovec iov = { &byte, 1 };
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b
    };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    CHECK_EQ(sendmsg(sock, &m, 0), 1);
}

int
main(void)
{
    int p[2], sv[2];
    CHECK_OK(pipe(p));
    CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(devnull >= 0);
    int n = p[0];

    /* Every number below n is open, so the child's first new descriptor after closing n is n. */
    for (int i = 0; i < n; i++)
        if (fcntl(i, F_GETFD) < 0)
            CHECK_EQ(dup2(devnull, i), i);

    /* The message the child will receive: a descriptor, queued before the vfork. */
    send_fd(sv[0], devnull);

    struct blocked_read rd = { .fd = n };
    pthread_t reader = spawn(blocked_read_main, &rd);
    wait_blocked(&rd.blocked, SYS_read, "IO read");
    check_green_threads(2);

    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } ctl;
    char byte = 0;
    struct iovec iov = { &byte, 1 };
    struct mmsghdr mm;
    memset(&mm, 0, sizeof mm);
    mm.msg_hdr.msg_iov = &iov;
    mm.msg_hdr.msg_iovlen = 1;
    mm.msg_hdr.msg_control = ctl.b;
    mm.msg_hdr.msg_controllen = sizeof ctl.b;

    pid_t pid = vfork();
    if (pid == 0) {
        /* Async-signal-safe calls only: close, recvmmsg, _exit. */
        if (close(n) != 0)
            _exit(CHILD_CLOSE);
        if (recvmmsg(sv[1], &mm, 1, MSG_DONTWAIT, NULL) != 1)
            _exit(CHILD_RECV);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mm.msg_hdr);
        if (c == NULL || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
            c->cmsg_len != CMSG_LEN(sizeof(int)))
            _exit(CHILD_NO_RIGHTS);
        if (*(const int *)CMSG_DATA(c) != n)
            _exit(CHILD_NOT_REUSED);
        _exit(CHILD_OK);
    }
    CHECK(pid > 0);
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), CHILD_OK);

    /* The parent's n is still its pipe, and its reader still waits for the data. */
    CHECK_EQ(write(p[1], "x", 1), 1);
    join_within(reader, 10);
    if (rd.ret != 1)
        fprintf(stderr, "reader: read(%d) returned %zd (%s)\n", n, rd.ret,
                rd.ret < 0 ? check_errname(rd.err) : "no data");
    CHECK_EQ(rd.ret, 1);
    CHECK_EQ(rd.byte, 'x');
    return 0;
}
