/*
 * tests/control/target.c: the program scripts/check-control.sh attaches to. It prints
 * "ready" once its threads wait in known ways, then lives until SIGTERM, on which it exits
 * through exit() (so the runtime's exit work runs):
 *  - 4 threads wait for a mutex main holds (in waits_for_mutex),
 *  - 3 wait on a condition variable nobody signals (in waits_on_cond),
 *  - 2 read a pipe nobody writes (in reads_pipe),
 *  - 2 sleep for an hour (in sleeps_long),
 *  - 1 reads a pipe with a `syscall` instruction, unseen by any hook (in reads_raw).
 * Its threads are named with pthread_setname_np after their role.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int pipefd[2], rawfd[2];
static volatile int sink;

static __attribute__((noinline)) void *
waits_for_mutex(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    pthread_mutex_unlock(&mu);
    sink++;
    return NULL;
}

static __attribute__((noinline)) void *
waits_on_cond(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&cmu);
    for (;;)
        pthread_cond_wait(&cv, &cmu);
    return NULL;
}

static __attribute__((noinline)) void *
reads_pipe(void *arg)
{
    char c;
    (void)arg;
    sink += (int)read(pipefd[0], &c, 1);
    return NULL;
}

static __attribute__((noinline)) void *
sleeps_long(void *arg)
{
    (void)arg;
    sleep(3600);
    sink++;
    return NULL;
}

static __attribute__((noinline)) void *
reads_raw(void *arg)
{
    long ret;
    char c;
    (void)arg;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"((long)SYS_read), "D"((long)rawfd[0]), "S"(&c), "d"(1L)
                     : "rcx", "r11", "memory");
    sink += (int)ret;
    return NULL;
}

static void
start(void *(*fn)(void *), int n, const char *name)
{
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, fn, NULL) != 0) {
            perror("pthread_create");
            _exit(1);
        }
        pthread_setname_np(t, name);
    }
}

int
main(void)
{
    sigset_t term;
    int sig;

    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, NULL); /* for every thread: main takes it in sigwait */
    if (pipe(pipefd) != 0 || pipe(rawfd) != 0)
        return 1;
    pthread_mutex_lock(&mu);
    start(waits_for_mutex, 4, "mutexwaiter");
    start(waits_on_cond, 3, "condwaiter");
    start(reads_pipe, 2, "piperead");
    start(sleeps_long, 2, "sleeper");
    start(reads_raw, 1, "rawread");
    usleep(300000); /* let them all reach their waits */
    printf("ready\n");
    fflush(stdout);
    sigwait(&term, &sig);
    exit(0);
}
