/* tests/tls_switch_refused.c
 * Behaviour: no thread ever runs on another thread's TLS, even when the OS refuses to change
 * the thread pointer. A child process forbids arch_prctl(ARCH_SET_FS) with a seccomp filter,
 * then runs threads that yield to each other and check their own __thread values. Natively
 * threads never change FS, so they run to the end. Under greenrun's system-call switch
 * (GREENRUN_DEBUG=fs=arch_prctl, tests/tls_switch_refused.conf) a G cannot be switched in:
 * the runtime must stop the process with its fatal message, never go on with the wrong TLS
 * (which the threads would see: exit status 3) nor crash on it. With wrfsbase nothing is
 * refused and the child runs to the end.
 */
#include "check.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef ARCH_SET_FS
#define ARCH_SET_FS 0x1002
#endif

#define NTHREADS       4
#define ROUNDS         1000
#define EXIT_WRONG_TLS 3

static __thread long my_id;
static __thread pthread_t my_self;

static void *
yielder(void *arg)
{
    my_id = (long)arg;
    my_self = pthread_self();
    for (int i = 0; i < ROUNDS; i++) {
        sched_yield();
        if (my_id != (long)arg || !pthread_equal(my_self, pthread_self()))
            _exit(EXIT_WRONG_TLS);
    }
    return NULL;
}

/* Make arch_prctl(ARCH_SET_FS, ...) fail with EPERM in every thread of this process. */
static void
refuse_set_fs(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_arch_prctl, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH_SET_FS, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof code / sizeof code[0], .filter = code };

    CHECK_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    CHECK_OK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog));
}

static void
child(void)
{
    pthread_t t[NTHREADS];

    refuse_set_fs();
    for (long i = 0; i < NTHREADS; i++)
        t[i] = spawn(yielder, (void *)(i + 1));
    check_green_threads(NTHREADS + 1);
    yielder((void *)(NTHREADS + 1));
    for (int i = 0; i < NTHREADS; i++)
        join_within(t[i], 30);
}

int
main(void)
{
    int err[2], status;
    char out[4096];
    size_t got = 0;
    ssize_t n;

    CHECK_OK(pipe(err));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(err[0]);
        dup2(err[1], 2);
        child();
        fflush(NULL);
        _exit(0);
    }
    close(err[1]);
    while (got < sizeof out - 1 && (n = read(err[0], out + got, sizeof out - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(err[0]);
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    fprintf(stderr, "child: %s %d; its stderr:\n%s", WIFEXITED(status) ? "exit" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), out);

    if (WIFEXITED(status)) {
        /* Native, or greenrun switching with wrfsbase: nothing was refused. */
        CHECK_EQ(WEXITSTATUS(status), 0);
        return 0;
    }
    CHECK(test_green());
    CHECK_EQ(WTERMSIG(status), SIGABRT);
    CHECK(strstr(out, "greenrun: fatal:") != NULL);
    return 0;
}
