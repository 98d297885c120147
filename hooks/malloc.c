/*
 * hooks/malloc.c: the malloc family (libc.def, family "malloc").
 *
 * Every name is served by greenrun's allocator (runtime/malloc.h), which works from the first
 * call, before the constructor and on threads the runtime does not know; glibc supports
 * replacing malloc this way and sends its own allocations here too. With
 * GREENRUN_MALLOC=system new objects come from glibc's malloc (gr_real) instead, and an
 * object is given back to whichever allocator it came from: the page map knows greenrun's.
 *
 * Errors follow glibc 2.36: NULL and ENOMEM when memory cannot be had (sizes beyond
 * PTRDIFF_MAX, overflowing calloc and reallocarray); posix_memalign returns EINVAL for an
 * alignment that is not a power of two multiple of sizeof(void *); memalign, aligned_alloc
 * (the same function in 2.36) and valloc round a non-power-of-two alignment up. free
 * preserves errno.
 *
 * mallopt accepts glibc's parameters and honours none of them: greenrun's caches are per P
 * (M_ARENA_*, M_MMAP_* and the tcache tunables have nothing to act on), and memory goes back
 * to the system through the scavenger and malloc_trim (M_TRIM_THRESHOLD, M_TOP_PAD).
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "hooks/hook.h"

#define SYS_PAGE 4096

/* glibc's answer, at the allocator's safe point (a G looping on these yields when asked). */
#define SYSTEM(call, caller)             \
    do {                                 \
        __typeof__(call) r_ = (call);    \
        gr_malloc_preempt_point(caller); \
        return r_;                       \
    } while (0)

static inline bool
system_owns(void *p)
{
    return gr_unlikely(gr_malloc_system) && p != NULL && !gr_malloc_owns(p);
}

/* malloc and free are two instructions each (this file is built without frame pointers):
 * the runtime's fast paths take GREENRUN_MALLOC=system on their slow paths. */
GR_EXPORT void *
malloc(size_t n)
{
    return gr_malloc(n, __builtin_return_address(0));
}

GR_EXPORT void
free(void *p)
{
    gr_free(p, __builtin_return_address(0));
}

GR_EXPORT void *
calloc(size_t nmemb, size_t size)
{
    if (gr_unlikely(gr_malloc_system))
        SYSTEM(gr_real.calloc(nmemb, size), __builtin_return_address(0));
    return gr_calloc(nmemb, size, __builtin_return_address(0));
}

GR_EXPORT void *
realloc(void *p, size_t n)
{
    if (system_owns(p) || (gr_unlikely(gr_malloc_system) && p == NULL))
        SYSTEM(gr_real.realloc(p, n), __builtin_return_address(0));
    return gr_realloc(p, n, __builtin_return_address(0));
}

GR_EXPORT void *
reallocarray(void *p, size_t nmemb, size_t size)
{
    size_t n;

    if (__builtin_mul_overflow(nmemb, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    if (system_owns(p) || (gr_unlikely(gr_malloc_system) && p == NULL))
        SYSTEM(gr_real.realloc(p, n), __builtin_return_address(0));
    return gr_realloc(p, n, __builtin_return_address(0));
}

/* memalign's rules (glibc 2.36): a huge alignment is EINVAL, any other is rounded up to a
 * power of two. */
static void *
aligned(size_t align, size_t n, const void *caller)
{
    if (align > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    if ((align & (align - 1)) != 0)
        align = (size_t)1 << (64 - __builtin_clzll((unsigned long long)align));
    if (gr_unlikely(gr_malloc_system))
        SYSTEM(gr_real.memalign(align, n), caller);
    return gr_malloc_aligned(align, n, caller);
}

GR_EXPORT int
posix_memalign(void **memptr, size_t align, size_t n)
{
    int saved = errno;
    void *p;

    if (align % sizeof(void *) != 0 || (align & (align - 1)) != 0 || align == 0)
        return EINVAL;
    p = aligned(align, n, __builtin_return_address(0));
    if (p == NULL) {
        errno = saved;
        return ENOMEM;
    }
    *memptr = p;
    return 0;
}

GR_EXPORT void *
aligned_alloc(size_t align, size_t n)
{
    return aligned(align, n, __builtin_return_address(0));
}

GR_EXPORT void *
memalign(size_t align, size_t n)
{
    return aligned(align, n, __builtin_return_address(0));
}

GR_EXPORT void *
valloc(size_t n)
{
    return aligned(SYS_PAGE, n, __builtin_return_address(0));
}

GR_EXPORT void *
pvalloc(size_t n)
{
    size_t rounded;

    if (__builtin_add_overflow(n, SYS_PAGE - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    rounded &= ~(size_t)(SYS_PAGE - 1);
    return aligned(SYS_PAGE, rounded == 0 ? SYS_PAGE : rounded, __builtin_return_address(0));
}

GR_EXPORT size_t
malloc_usable_size(void *p)
{
    if (system_owns(p))
        return gr_real.malloc_usable_size(p);
    return gr_malloc_usable_size(p, __builtin_return_address(0));
}

GR_EXPORT int
malloc_trim(size_t pad)
{
    int released = 0;

    if (gr_unlikely(gr_malloc_system))
        released = gr_real.malloc_trim(pad);
    return gr_malloc_trim() || released;
}

GR_EXPORT struct mallinfo2
mallinfo2(void)
{
    struct gr_malloc_stats st;
    struct mallinfo2 mi;

    if (gr_unlikely(gr_malloc_system))
        return gr_real.mallinfo2();
    gr_malloc_stats(&st);
    memset(&mi, 0, sizeof(mi));
    mi.arena = st.mapped; /* address space of the page heap */
    mi.ordblks = 1;       /* one heap */
    mi.hblks = st.nhuge;  /* objects in mappings of their own */
    mi.hblkhd = st.huge_bytes;
    mi.uordblks = st.inuse;                               /* bytes of objects in use */
    mi.fordblks = st.mapped - (st.inuse - st.huge_bytes); /* the rest of the heap */
    mi.keepcost = st.retained; /* free memory malloc_trim would return now */
    return mi;
}

static int
clamp(size_t v)
{
    return v > (size_t)INT32_MAX ? INT32_MAX : (int)v;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
GR_EXPORT struct mallinfo
mallinfo(void)
{
    struct mallinfo2 m2;
    struct mallinfo mi;

    if (gr_unlikely(gr_malloc_system))
        return gr_real.mallinfo();
    m2 = mallinfo2();
    mi.arena = clamp(m2.arena);
    mi.ordblks = clamp(m2.ordblks);
    mi.smblks = clamp(m2.smblks);
    mi.hblks = clamp(m2.hblks);
    mi.hblkhd = clamp(m2.hblkhd);
    mi.usmblks = clamp(m2.usmblks);
    mi.fsmblks = clamp(m2.fsmblks);
    mi.uordblks = clamp(m2.uordblks);
    mi.fordblks = clamp(m2.fordblks);
    mi.keepcost = clamp(m2.keepcost);
    return mi;
}
#pragma GCC diagnostic pop

GR_EXPORT void
malloc_stats(void)
{
    struct gr_malloc_stats st;

    if (gr_unlikely(gr_malloc_system)) {
        gr_real.malloc_stats();
        return;
    }
    gr_malloc_stats(&st);
    /* glibc's layout, with greenrun's one heap as its one arena. */
    gr_print("Arena 0:\nsystem bytes     = %10lu\nin use bytes     = %10lu\n"
             "Total (incl. mmap):\nsystem bytes     = %10lu\nin use bytes     = %10lu\n"
             "max mmap regions = %10lu\nmax mmap bytes   = %10lu\n",
             (unsigned long)st.mapped, (unsigned long)(st.inuse - st.huge_bytes),
             (unsigned long)(st.mapped + st.huge_bytes), (unsigned long)st.inuse,
             (unsigned long)st.nhuge, (unsigned long)st.huge_bytes);
}

GR_EXPORT int
malloc_info(int options, FILE *fp)
{
    struct gr_malloc_stats st;

    if (gr_unlikely(gr_malloc_system))
        return gr_real.malloc_info(options, fp);
    if (options != 0) {
        errno = EINVAL;
        return -1;
    }
    gr_malloc_stats(&st);
    fprintf(fp, "<malloc version=\"greenrun-1\">\n");
    for (unsigned cls = 0; cls < GR_NCLASS; cls++)
        if (st.class_spans[cls] != 0)
            fprintf(fp, "<size class=\"%u\" bytes=\"%zu\" inuse=\"%lu\" spans=\"%lu\"/>\n", cls,
                    gr_class_size(cls), (unsigned long)st.class_objects[cls],
                    (unsigned long)st.class_spans[cls]);
    fprintf(fp,
            "<total type=\"inuse\" size=\"%lu\"/>\n<total type=\"mapped\" size=\"%lu\"/>\n"
            "<total type=\"retained\" size=\"%lu\"/>\n<total type=\"released\" size=\"%lu\"/>\n"
            "<total type=\"mmap\" count=\"%lu\" size=\"%lu\"/>\n</malloc>\n",
            (unsigned long)st.inuse, (unsigned long)st.mapped, (unsigned long)st.retained,
            (unsigned long)st.released, (unsigned long)st.nhuge, (unsigned long)st.huge_bytes);
    return 0;
}

GR_EXPORT int
mallopt(int param, int value)
{
    if (gr_unlikely(gr_malloc_system))
        return gr_real.mallopt(param, value);
    switch (param) {
    case M_MXFAST:
    case M_TRIM_THRESHOLD:
    case M_TOP_PAD:
    case M_MMAP_THRESHOLD:
    case M_MMAP_MAX:
    case M_CHECK_ACTION:
    case M_PERTURB:
    case M_ARENA_TEST:
    case M_ARENA_MAX:
        return 1; /* accepted; see the header */
    default:
        return 0;
    }
}
