/*
 * tests/unit/sizeclass_test.c: the allocator's size classes (runtime/malloc.h), exhaustively.
 *
 * Behaviour: the classes are multiples of 16 in increasing order, every power of two from 16
 * to 32 KiB is one, the last is GR_SMALL_MAX; gr_size_class(n) is the smallest class that
 * holds n for every n up to GR_SMALL_MAX; a span of each class holds at least two objects and
 * wastes at most an eighth of itself; and the division by multiplication finds the object of
 * every offset inside a span, exactly as a division would, and free()'s multiplication test
 * says which offsets start an object, exactly. Prints one line per failed check,
 * then a summary.
 */
#include <stdio.h>

#include "runtime/malloc.h"

static int failed, checks;

#define CHECK(cond, ...)                                \
    do {                                                \
        checks++;                                       \
        if (!(cond)) {                                  \
            failed++;                                   \
            printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            printf(__VA_ARGS__);                        \
            printf("\n");                               \
        }                                               \
    } while (0)

int
main(void)
{
    size_t prev = 0;

    for (unsigned c = 0; c < GR_NCLASS; c++) {
        size_t size = gr_class_size(c), span = gr_class_npages(c) << 13;
        uint32_t mul = gr_class_divmul(size);
        uint64_t check = gr_class_divcheck(size);
        int bad = 0, badcheck = 0;

        CHECK(size % 16 == 0 && size > prev, "class %u: size %zu after %zu", c, size, prev);
        CHECK(span / size >= 2, "class %u: %zu objects per span", c, span / size);
        CHECK(span % size <= span / 8, "class %u: %zu bytes wasted of %zu", c, span % size, span);
        for (uint64_t off = 0; off < span; off++) {
            if ((uint32_t)((off * mul) >> 32) != off / size)
                bad++;
            if ((off * check < check) != (off % size == 0))
                badcheck++;
        }
        CHECK(bad == 0, "class %u: %d offsets divided wrong", c, bad);
        CHECK(badcheck == 0, "class %u: %d offsets judged wrongly as multiples", c, badcheck);
        prev = size;
    }
    CHECK(gr_class_size(GR_NCLASS - 1) == GR_SMALL_MAX, "last class %zu",
          gr_class_size(GR_NCLASS - 1));
    for (size_t p = 16; p <= GR_SMALL_MAX; p *= 2)
        CHECK(gr_class_size(gr_size_class(p)) == p, "power of two %zu is not a class", p);
    for (size_t n = 1; n <= GR_SMALL_MAX; n++) {
        unsigned c = gr_size_class(n);
        if (c >= GR_NCLASS || gr_class_size(c) < n || (c > 0 && gr_class_size(c - 1) >= n)) {
            CHECK(0, "gr_size_class(%zu) = %u", n, c);
            break;
        }
    }
    printf("%d passed, %d failed\n", checks - failed, failed);
    return failed != 0;
}
