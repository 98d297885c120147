/*
 * runtime/atomic.h: explicit-order wrappers over the __atomic builtins.
 *
 * Every call site names its order; the comment beside a release or acquire says which access
 * it pairs with. Plain loads and stores of shared fields are not allowed (see HACKING.md).
 */
#ifndef GR_RUNTIME_ATOMIC_H
#define GR_RUNTIME_ATOMIC_H

#define gr_load_relaxed(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define gr_load_acquire(p)      __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define gr_load(p)              __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define gr_store_relaxed(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define gr_store_release(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define gr_store(p, v)          __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define gr_xchg(p, v)           __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define gr_xadd(p, v)           __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define gr_xadd_relaxed(p, v)   __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define gr_fetch_or(p, v)       __atomic_fetch_or((p), (v), __ATOMIC_SEQ_CST)
#define gr_fetch_and(p, v)      __atomic_fetch_and((p), (v), __ATOMIC_SEQ_CST)

/* Strong compare-and-swap; on failure *expected receives the current value. */
#define gr_cas(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)
#define gr_cas_acquire(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)
#define gr_cas_release(p, expected, desired) \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)

#endif /* GR_RUNTIME_ATOMIC_H */
