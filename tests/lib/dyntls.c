/* tests/lib/dyntls.c: a library with dynamic TLS, for tests/dlopen_dtv_grow.c. Each copy
 * loaded is a module of its own, with a block per thread that glibc allocates on first use. */
__thread long dyntls_count __attribute__((tls_model("global-dynamic"))) = 1000;
__thread char dyntls_pad[4096] __attribute__((tls_model("global-dynamic")));

long dyntls_bump(void);

/* This thread's count, one more each call; the pad stays zero but for its first byte. */
long
dyntls_bump(void)
{
    if (dyntls_pad[0] != 0 && dyntls_pad[0] != 1)
        return -1;
    dyntls_pad[0] = 1;
    return ++dyntls_count;
}
