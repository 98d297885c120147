/*
 * runtime/atomic.h: atomics, typed for the runtime's own fields, raw for memory it does not
 * own.
 *
 * A field of a runtime structure that threads share without a lock is declared with one of
 * the typed atomics below (struct gr_atomic_u32, GR_ATOMIC_PTR(struct g), ...). Such a field
 * can only be reached through gr_load, gr_store, gr_cas and their kin: a plain read or write
 * does not compile, so no unsynchronised access slips in unnoticed (Go's atomic.Uint32).
 * gr_atomic_word gives the plain address for the one use that needs it, a futex system call.
 *
 * Memory the runtime does not declare (the program's pthread objects, glibc's cancelhandling
 * word, futex words the program passes in) is reached with the gr_raw_* forms.
 *
 * Every call site names its order; the comment beside a release or acquire says which access
 * it pairs with. HACKING.md has the rules.
 */
#ifndef GR_RUNTIME_ATOMIC_H
#define GR_RUNTIME_ATOMIC_H

#include <stdint.h>

struct gr_atomic_u8 {
    uint8_t v_;
};
struct gr_atomic_u32 {
    uint32_t v_;
};
struct gr_atomic_i32 {
    int32_t v_;
};
struct gr_atomic_u64 {
    uint64_t v_;
};
struct gr_atomic_i64 {
    int64_t v_;
};
/* An atomic pointer to T. */
#define GR_ATOMIC_PTR(T) \
    struct {             \
        T *v_;           \
    }

/* The plain address of a typed atomic: for futex system calls only. */
#define gr_atomic_word(a) (&(a)->v_)

/* Order the calling thread's accesses against a signal handler on the same thread. */
#define gr_signal_fence() __atomic_signal_fence(__ATOMIC_SEQ_CST)
/* Thread fences, for a sequence count: its writer makes the count odd, then a release fence
 * orders the data stores after it; its reader loads the data, then an acquire fence orders the
 * second load of the count after them (cputime.c). */
#define gr_fence_release() __atomic_thread_fence(__ATOMIC_RELEASE)
#define gr_fence_acquire() __atomic_thread_fence(__ATOMIC_ACQUIRE)

/* Typed atomics (a: the address of a struct gr_atomic_* or GR_ATOMIC_PTR field). */
#define gr_load_relaxed(a)     __atomic_load_n(&(a)->v_, __ATOMIC_RELAXED)
#define gr_load_acquire(a)     __atomic_load_n(&(a)->v_, __ATOMIC_ACQUIRE)
#define gr_load(a)             __atomic_load_n(&(a)->v_, __ATOMIC_SEQ_CST)
#define gr_store_relaxed(a, v) __atomic_store_n(&(a)->v_, (v), __ATOMIC_RELAXED)
#define gr_store_release(a, v) __atomic_store_n(&(a)->v_, (v), __ATOMIC_RELEASE)
#define gr_store(a, v)         __atomic_store_n(&(a)->v_, (v), __ATOMIC_SEQ_CST)
#define gr_xchg(a, v)          __atomic_exchange_n(&(a)->v_, (v), __ATOMIC_SEQ_CST)
#define gr_xchg_acquire(a, v)  __atomic_exchange_n(&(a)->v_, (v), __ATOMIC_ACQUIRE)
#define gr_xchg_release(a, v)  __atomic_exchange_n(&(a)->v_, (v), __ATOMIC_RELEASE)
#define gr_xadd(a, v)          __atomic_fetch_add(&(a)->v_, (v), __ATOMIC_SEQ_CST)
#define gr_xadd_relaxed(a, v)  __atomic_fetch_add(&(a)->v_, (v), __ATOMIC_RELAXED)
#define gr_fetch_or(a, v)      __atomic_fetch_or(&(a)->v_, (v), __ATOMIC_SEQ_CST)
#define gr_fetch_and(a, v)     __atomic_fetch_and(&(a)->v_, (v), __ATOMIC_SEQ_CST)
/* A counter with one writer at a time (its owner, or whoever holds its lock) that others
 * read relaxed: a plain add, no locked instruction. */
#define gr_owner_inc(a) gr_store_relaxed((a), gr_load_relaxed(a) + 1)
#define gr_owner_dec(a) gr_store_relaxed((a), gr_load_relaxed(a) - 1)

/* Strong compare-and-swap; on failure *expected receives the current value. */
#define gr_cas(a, expected, desired)                                                  \
    __atomic_compare_exchange_n(&(a)->v_, (expected), (desired), 0, __ATOMIC_SEQ_CST, \
                                __ATOMIC_SEQ_CST)
#define gr_cas_acquire(a, expected, desired)                                          \
    __atomic_compare_exchange_n(&(a)->v_, (expected), (desired), 0, __ATOMIC_ACQUIRE, \
                                __ATOMIC_RELAXED)
#define gr_cas_release(a, expected, desired)                                          \
    __atomic_compare_exchange_n(&(a)->v_, (expected), (desired), 0, __ATOMIC_RELEASE, \
                                __ATOMIC_RELAXED)

/* Raw atomics on memory the runtime does not declare (p: a plain pointer). */
#define gr_raw_load_relaxed(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define gr_raw_load_acquire(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define gr_raw_load(p)             __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define gr_raw_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define gr_raw_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define gr_raw_store(p, v)         __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define gr_raw_xchg(p, v)          __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define gr_raw_xadd(p, v)          __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define gr_raw_xadd_release(p, v)  __atomic_fetch_add((p), (v), __ATOMIC_RELEASE)
#define gr_raw_fetch_or(p, v)      __atomic_fetch_or((p), (v), __ATOMIC_SEQ_CST)
#define gr_raw_fetch_and(p, v)     __atomic_fetch_and((p), (v), __ATOMIC_SEQ_CST)
#define gr_raw_cas(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)
#define gr_raw_cas_acquire(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)
#define gr_raw_cas_release(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)

#endif /* GR_RUNTIME_ATOMIC_H */
