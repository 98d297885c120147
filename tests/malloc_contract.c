/* tests/malloc_contract.c
 * Behaviour: every function of the malloc family keeps glibc's contract, in the main thread and
 * in another thread: malloc, calloc, realloc, reallocarray, posix_memalign, aligned_alloc,
 * memalign, valloc and pvalloc return distinct, writable blocks aligned as asked (every power of
 * two from 1 to 64 KiB, sizes 0 to 1 MiB) whose malloc_usable_size covers the request and can be
 * written in full; calloc memory is zero even where a dirty block was just freed; realloc keeps
 * the contents when it grows, shrinks or stays, acts as malloc on NULL and frees on size 0;
 * absurd sizes fail with NULL and ENOMEM (posix_memalign returns ENOMEM) and leave the old block
 * of realloc alone; bad alignments give EINVAL where glibc gives it and are rounded up where
 * glibc rounds them; a successful call leaves errno alone; mallinfo2's bytes in use grow by at
 * least what 2000 live 200-byte blocks hold and shrink when they are freed; malloc_trim,
 * mallopt, malloc_stats and malloc_info can be called.
 *
 * glibc 2.36, which this asserts (the green run must match the native one): aligned_alloc is
 * memalign, so a non-power-of-two alignment (0 and 3 included) is rounded up to the next power
 * of two and the call succeeds; only an alignment that cannot be rounded up (above 2^63) fails,
 * with EINVAL, while 2^63 itself fails with ENOMEM. glibc 2.38 made aligned_alloc reject a
 * non-power-of-two alignment with EINVAL; memalign still rounds up there. realloc(p, 0) frees p
 * and returns NULL; realloc(NULL, 0) and malloc(0) return a unique block. posix_memalign leaves
 * *memptr alone when it fails.
 */
#include "check.h"

#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdint.h>

/*
 * Every call goes through a volatile pointer. GCC knows these functions as builtins: it would
 * fold a malloc/free pair away, assume posix_memalign leaves errno alone (so that errno read
 * after a failing call is the value stored before it), and reject the absurd constant sizes
 * below at compile time (-Walloc-size-larger-than, an error under -Werror).
 */
static void *(*volatile f_malloc)(size_t) = malloc;
static void *(*volatile f_calloc)(size_t, size_t) = calloc;
static void *(*volatile f_realloc)(void *, size_t) = realloc;
static void *(*volatile f_reallocarray)(void *, size_t, size_t) = reallocarray;
static void (*volatile f_free)(void *) = free;
static int (*volatile f_posix_memalign)(void **, size_t, size_t) = posix_memalign;
static void *(*volatile f_aligned_alloc)(size_t, size_t) = aligned_alloc;
static void *(*volatile f_memalign)(size_t, size_t) = memalign;
static void *(*volatile f_valloc)(size_t) = valloc;
static void *(*volatile f_pvalloc)(size_t) = pvalloc;
static size_t (*volatile f_usable)(void *) = malloc_usable_size;

static const size_t sizes[] = { 0, 1, 7, 16, 100, 4095, 4096, 5000, 70000, 1 << 20 };
#define NSIZES    (sizeof sizes / sizeof sizes[0])
#define MAX_ALIGN ((size_t)64 << 10)

static size_t page;

/* 1 when glibc is older than 2.38, whose aligned_alloc rounds a bad alignment up. */
static int
aligned_alloc_rounds_up(void)
{
    int major = 0, minor = 0;
    CHECK_EQ(sscanf(gnu_get_libc_version(), "%d.%d", &major, &minor), 2);
    return major < 2 || (major == 2 && minor < 38);
}

/* The smallest power of two >= a (1 for 0). */
static size_t
pow2_ceil(size_t a)
{
    size_t p = 1;
    while (p < a)
        p <<= 1;
    return p;
}

static unsigned char
pattern(size_t k, unsigned seed)
{
    return (unsigned char)(k * 131 + seed * 29 + (k >> 8));
}

static void
fill(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t k = 0; k < n; k++)
        b[k] = pattern(k, seed);
}

/* The first n bytes of p still hold the pattern of seed. */
static void
check_filled(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = p;
    for (size_t k = 0; k < n; k++)
        if (b[k] != pattern(k, seed)) {
            fprintf(stderr, "block %p byte %zu of %zu: %#x, expected %#x\n", p, k, n, b[k],
                    pattern(k, seed));
            CHECK(!"contents kept");
        }
}

/* p is a block for n bytes aligned to align: usable_size covers n and the whole usable size is
 * written with seed's pattern. Returns the usable size. */
static size_t
check_block(void *p, size_t n, size_t align, unsigned seed)
{
    CHECK(p != NULL);
    if ((uintptr_t)p % align != 0) {
        fprintf(stderr, "%p for %zu bytes is not aligned to %zu\n", p, n, align);
        CHECK(!"aligned");
    }
    size_t usable = f_usable(p);
    if (usable < n) {
        fprintf(stderr, "%p for %zu bytes: usable size %zu\n", p, n, usable);
        CHECK(usable >= n);
    }
    fill(p, usable, seed);
    return usable;
}

/* call returns NULL and sets errno to ENOMEM. */
#define CHECK_ENOMEM(call)    \
    do {                      \
        errno = 0;            \
        void *r_ = (call);    \
        int e_ = errno;       \
        CHECK(r_ == NULL);    \
        CHECK_EQ(e_, ENOMEM); \
    } while (0)

/* malloc of every size: 16-byte aligned (glibc's alignment, even for 1 byte), usable to the
 * end, and 64 live blocks of a size never overlap. */
static void
check_malloc(void)
{
    enum { LIVE = 64 };
    for (size_t i = 0; i < NSIZES; i++) {
        void *b[LIVE];
        size_t u[LIVE];
        for (unsigned j = 0; j < LIVE; j++) {
            b[j] = f_malloc(sizes[i]);
            u[j] = check_block(b[j], sizes[i], 16, j);
        }
        for (unsigned j = 0; j < LIVE; j++) {
            check_filled(b[j], u[j], j);
            f_free(b[j]);
        }
    }
    void *a = f_malloc(0), *b = f_malloc(0);
    CHECK(a != NULL && b != NULL && a != b);
    f_free(a);
    f_free(b);
    f_free(NULL);
}

/* posix_memalign, aligned_alloc and memalign at every power of two up to 64 KiB, for every size;
 * the three blocks of one alignment and size are live together and keep their contents. */
static void
check_alignment(void)
{
    for (size_t align = 1; align <= MAX_ALIGN; align <<= 1) {
        for (size_t i = 0; i < NSIZES; i++) {
            size_t n = sizes[i];
            void *pm = NULL;
            size_t upm = 0;
            if (align >= sizeof(void *)) {
                CHECK_OK(f_posix_memalign(&pm, align, n));
                upm = check_block(pm, n, align, 1);
            }
            void *aa = f_aligned_alloc(align, n);
            size_t uaa = check_block(aa, n, align, 2);
            void *ma = f_memalign(align, n);
            size_t uma = check_block(ma, n, align, 3);
            if (pm != NULL)
                check_filled(pm, upm, 1);
            check_filled(aa, uaa, 2);
            check_filled(ma, uma, 3);
            f_free(pm);
            f_free(aa);
            f_free(ma);
        }
    }
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        void *v = f_valloc(n);
        check_block(v, n, page, 4);
        /* pvalloc rounds the size up to whole pages. */
        void *pv = f_pvalloc(n);
        check_block(pv, (n + page - 1) / page * page, page, 5);
        f_free(v);
        f_free(pv);
    }
    /* An aligned block can be grown by realloc, contents kept. */
    void *p = f_memalign(MAX_ALIGN, 100);
    check_block(p, 100, MAX_ALIGN, 6);
    p = f_realloc(p, 200000);
    CHECK(p != NULL);
    check_filled(p, 100, 6);
    f_free(p);
}

/* Bad alignments: EINVAL from posix_memalign, *memptr untouched; memalign rounds up to a power
 * of two; aligned_alloc does the same before glibc 2.38 and fails with EINVAL from 2.38. */
static void
check_bad_alignment(void)
{
    const size_t bad[] = { 0, 1, 2, 3, sizeof(void *) / 2, 12, 24, 48, 100, 4097 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *untouched = (void *)&bad[i];
        void *p = untouched;
        errno = 0;
        CHECK_EQ(f_posix_memalign(&p, bad[i], 16), EINVAL);
        CHECK(p == untouched);
    }
    int rounds = aligned_alloc_rounds_up();
    for (size_t a = 0; a <= 300; a++) {
        size_t want = pow2_ceil(a);
        void *p = f_memalign(a, 10);
        check_block(p, 10, want, 7);
        f_free(p);
        errno = 0;
        p = f_aligned_alloc(a, 16);
        if (rounds || (a != 0 && want == a)) {
            check_block(p, 16, want, 8);
            f_free(p);
        } else {
            CHECK(p == NULL);
            CHECK_EQ(errno, EINVAL);
        }
    }
    const size_t odd[] = { 4097, 65535, 65537 };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        void *p = f_memalign(odd[i], 100);
        check_block(p, 100, pow2_ceil(odd[i]), 9);
        f_free(p);
    }
    /* Above 2^63 there is no power of two to round up to: EINVAL from both. 2^63 itself is
     * a valid alignment that no memory can satisfy: ENOMEM. */
    size_t top = SIZE_MAX / 2 + 1;
    errno = 0;
    CHECK(f_memalign(top + 1, 16) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(f_aligned_alloc(top + 1, 16) == NULL);
    CHECK_EQ(errno, EINVAL);
    CHECK_ENOMEM(f_memalign(top, 16));
    CHECK_ENOMEM(f_aligned_alloc(top, 16));
    void *p = &page;
    CHECK_EQ(f_posix_memalign(&p, top, 16), ENOMEM);
    CHECK(p == &page);
}

/* calloc is zero, also where a block of the same size was filled and freed just before. */
static void
check_calloc(void)
{
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        int rounds = n >= ((size_t)1 << 20) ? 8 : 50;
        for (int r = 0; r < rounds; r++) {
            unsigned char *dirty = f_malloc(n);
            CHECK(dirty != NULL);
            memset(dirty, 0xa5, f_usable(dirty));
            f_free(dirty);
            /* The same bytes asked for in three shapes. */
            unsigned char *z = r % 3 == 0 ? f_calloc(1, n) :
                               r % 3 == 1 ? f_calloc(n, 1) :
                                            f_calloc(n / 4 + (n % 4 != 0), 4);
            CHECK(z != NULL);
            CHECK(f_usable(z) >= n);
            for (size_t k = 0; k < n; k++)
                if (z[k] != 0) {
                    fprintf(stderr, "calloc(%zu) round %d: byte %zu is %#x\n", n, r, k, z[k]);
                    CHECK(!"calloc zeroes");
                }
            f_free(z);
        }
    }
    void *a = f_calloc(0, 10), *b = f_calloc(10, 0);
    CHECK(a != NULL && b != NULL && a != b);
    f_free(a);
    f_free(b);
}

/* realloc grows and shrinks keeping the contents, stays put for the same size, acts as malloc
 * on NULL and frees on 0; reallocarray likewise. */
static void
check_realloc(void)
{
    for (size_t i = 0; i < NSIZES; i++) {
        void *p = f_realloc(NULL, sizes[i]);
        check_block(p, sizes[i], 16, 10);
        f_free(p);
    }
    /* Up through every size to 2 MiB, then down again. */
    size_t have = 1;
    unsigned char *p = f_malloc(have);
    fill(p, have, 11);
    for (size_t i = 1; i <= NSIZES; i++) {
        size_t n = i < NSIZES ? sizes[i] : (size_t)2 << 20;
        p = f_realloc(p, n);
        CHECK(p != NULL);
        CHECK(f_usable(p) >= n);
        check_filled(p, have, 11);
        fill(p, n, 11);
        have = n;
    }
    for (size_t i = NSIZES - 1; i >= 1; i--) {
        p = f_realloc(p, sizes[i]);
        CHECK(p != NULL);
        CHECK(f_usable(p) >= sizes[i]);
        check_filled(p, sizes[i], 11);
    }
    f_free(p);
    /* The same size keeps the block where it is. */
    for (size_t i = 1; i < NSIZES; i++) {
        void *q = f_malloc(sizes[i]);
        fill(q, sizes[i], 12);
        CHECK(f_realloc(q, sizes[i]) == q);
        check_filled(q, sizes[i], 12);
        f_free(q);
    }
    /* Size 0 frees and returns NULL (glibc), errno untouched. */
    for (size_t i = 0; i < NSIZES; i++) {
        void *q = f_malloc(sizes[i]);
        CHECK(q != NULL);
        errno = 1234;
        CHECK(f_realloc(q, 0) == NULL);
        CHECK_EQ(errno, 1234);
    }
    void *q = f_realloc(NULL, 0);
    CHECK(q != NULL);
    f_free(q);

    unsigned char *arr = f_reallocarray(NULL, 10, 10);
    check_block(arr, 100, 16, 13);
    arr = f_reallocarray(arr, 1000, 10);
    CHECK(arr != NULL);
    CHECK(f_usable(arr) >= 10000);
    check_filled(arr, 100, 13);
    f_free(arr);
}

/* Sizes no memory can hold: NULL and ENOMEM, and realloc's old block is still there. */
static void
check_enomem(void)
{
    const size_t huge[] = { SIZE_MAX, SIZE_MAX / 2, (size_t)PTRDIFF_MAX + 1, SIZE_MAX - 4095 };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        size_t n = huge[i];
        CHECK_ENOMEM(f_malloc(n));
        CHECK_ENOMEM(f_calloc(1, n));
        CHECK_ENOMEM(f_calloc(n, 1));
        CHECK_ENOMEM(f_realloc(NULL, n));
        CHECK_ENOMEM(f_aligned_alloc(64, n));
        CHECK_ENOMEM(f_memalign(4096, n));
        CHECK_ENOMEM(f_valloc(n));
        CHECK_ENOMEM(f_pvalloc(n));
        void *p = &page;
        CHECK_EQ(f_posix_memalign(&p, 16, n), ENOMEM);
        CHECK(p == &page);
        CHECK_EQ(f_posix_memalign(&p, 4096, n), ENOMEM);
        CHECK(p == &page);
        for (size_t j = 0; j < NSIZES; j++) {
            void *old = f_malloc(sizes[j]);
            fill(old, sizes[j], 14);
            CHECK_ENOMEM(f_realloc(old, n));
            check_filled(old, sizes[j], 14);
            f_free(old);
        }
    }
    /* The multiplications overflow. */
    CHECK_ENOMEM(f_calloc(SIZE_MAX / 2, 3));
    CHECK_ENOMEM(f_calloc(3, SIZE_MAX / 2));
    CHECK_ENOMEM(f_calloc((size_t)1 << 32, (size_t)1 << 32));
    CHECK_ENOMEM(f_reallocarray(NULL, SIZE_MAX / 2, 3));
    void *old = f_malloc(100);
    fill(old, 100, 15);
    CHECK_ENOMEM(f_reallocarray(old, SIZE_MAX / 2, 3));
    CHECK_ENOMEM(f_reallocarray(old, (size_t)1 << 32, (size_t)1 << 32));
    check_filled(old, 100, 15);
    f_free(old);
}

/* A call that succeeds leaves errno as it was, free of small and large blocks included. */
static void
check_errno_kept(void)
{
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        errno = 1234;
        void *a = f_malloc(n);
        void *b = f_calloc(n, 1);
        void *c = f_realloc(NULL, n);
        c = f_realloc(c, n + 100);
        void *d = NULL;
        CHECK_OK(f_posix_memalign(&d, 64, n));
        void *e = f_aligned_alloc(256, n);
        void *f = f_memalign(4096, n);
        void *g = f_valloc(n);
        void *h = f_pvalloc(n);
        CHECK(a && b && c && d && e && f && g && h);
        CHECK(f_usable(a) >= n);
        CHECK_EQ(errno, 1234);
        f_free(a);
        f_free(b);
        f_free(c);
        f_free(d);
        f_free(e);
        f_free(f);
        f_free(g);
        f_free(h);
        f_free(NULL);
        CHECK_EQ(errno, 1234);
    }
    errno = 0;
}

/* The glibc extras a program may call: each returns and says what glibc says. */
static void
check_extras(void)
{
    void *big = f_malloc(1 << 20);
    CHECK(big != NULL);
    struct mallinfo2 mi = mallinfo2();
    fprintf(stderr, "mallinfo2: arena %zu, in use %zu, mmapped %zu\n", mi.arena, mi.uordblks,
            mi.hblkhd);
    /* The allocator's own figures: the bytes in use follow the objects. */
    enum { NLIVE = 2000, LIVE_SIZE = 200 };
    static void *live[NLIVE];
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < NLIVE; i++) {
        live[i] = f_malloc(LIVE_SIZE);
        CHECK(live[i] != NULL);
    }
    size_t during = mallinfo2().uordblks;
    CHECK(during >= before + (size_t)NLIVE * LIVE_SIZE);
    for (int i = 0; i < NLIVE; i++)
        f_free(live[i]);
    CHECK(mallinfo2().uordblks + (size_t)NLIVE * LIVE_SIZE <= during);
    int trimmed = malloc_trim(0);
    CHECK(trimmed == 0 || trimmed == 1);
    int set = mallopt(M_ARENA_MAX, 1);
    fprintf(stderr, "mallopt(M_ARENA_MAX, 1) = %d\n", set);
    fprintf(stderr, "malloc_stats:\n");
    malloc_stats();
    /* stderr still works after malloc_stats. */
    CHECK(fprintf(stderr, "malloc_stats done\n") > 0);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(f != NULL);
    CHECK_OK(malloc_info(0, f));
    CHECK_OK(fclose(f));
    CHECK(text != NULL);
    CHECK(len > 0);
    fprintf(stderr, "malloc_info wrote %zu bytes\n", len);
    free(text);
    f_free(big);
}

static void *
contract(void *arg)
{
    check_malloc();
    check_alignment();
    check_bad_alignment();
    check_calloc();
    check_realloc();
    check_enomem();
    check_errno_kept();
    check_extras();
    return arg;
}

int
main(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    CHECK(page >= 4096);
    fprintf(stderr, "glibc %s: aligned_alloc %s a bad alignment\n", gnu_get_libc_version(),
            aligned_alloc_rounds_up() ? "rounds up" : "rejects");
    contract(NULL);
    /* Again from a thread that is not main (under greenrun another green thread). */
    CHECK(join_within(spawn(contract, &page), 120) == &page);
    return 0;
}
