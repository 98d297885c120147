/* tests/lib/statictls.c: a library with initial-exec TLS, for tests/dlopen_static_tls.c. */
__thread int statictls_value __attribute__((tls_model("initial-exec"))) = 42;
__thread char statictls_zeroed[64] __attribute__((tls_model("initial-exec")));

int statictls_get(void);
int statictls_zero_sum(void);

int
statictls_get(void)
{
    return statictls_value;
}

int
statictls_zero_sum(void)
{
    int sum = 0;
    for (int i = 0; i < 64; i++)
        sum += statictls_zeroed[i];
    statictls_zeroed[0] = 1;
    return sum;
}
