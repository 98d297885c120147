/*
 * runtime/base.h: attributes and small helpers shared by every layer.
 */
#ifndef GR_RUNTIME_BASE_H
#define GR_RUNTIME_BASE_H

#include <stddef.h>
#include <stdint.h>

#ifndef GR_DEBUG
#define GR_DEBUG 0
#endif

#define GR_EXPORT     __attribute__((visibility("default")))
#define GR_HIDDEN     __attribute__((visibility("hidden")))
#define GR_NORETURN   __attribute__((noreturn))
#define GR_COLD       __attribute__((cold, noinline))
#define GR_NOINLINE   __attribute__((noinline))
#define GR_UNUSED     __attribute__((unused))
#define GR_ALIGNED(n) __attribute__((aligned(n)))

#define gr_likely(x)   __builtin_expect(!!(x), 1)
#define gr_unlikely(x) __builtin_expect(!!(x), 0)

#define GR_CACHELINE 64
#define GR_PAGE      4096UL

#define gr_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define GR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static inline uintptr_t
gr_round_up(uintptr_t x, uintptr_t align)
{
    return (x + align - 1) & ~(align - 1);
}

static inline uintptr_t
gr_round_down(uintptr_t x, uintptr_t align)
{
    return x & ~(align - 1);
}

#define GR_NSEC_PER_SEC 1000000000LL

#endif /* GR_RUNTIME_BASE_H */
