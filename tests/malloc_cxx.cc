/* tests/malloc_cxx.cc
 * Behaviour: C++ allocation works over the program's malloc, in many threads: new/delete and
 * new[]/delete[] run constructors and destructors; over-aligned types (alignas(64), 4096 by
 * std::align_val_t) get aligned memory; thread_local objects whose constructors and destructors
 * allocate (std::string, std::vector) are built and torn down in each of 1,000 std::threads
 * under greenrun (200 natively), all alive at once; std::make_shared objects die in a thread
 * other than their creator's; exceptions (their objects are malloc'ed) are caught where thrown
 * and rethrown in another thread through std::exception_ptr; and a request no memory can hold
 * makes nothrow new return nullptr, new throw std::bad_alloc and the new-handler run first.
 */
#include "check.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

/* A volatile size, so that the compiler neither warns about nor folds the huge requests, and
 * a volatile sink, so that it cannot elide a new/delete pair ([expr.new] allows that). */
static volatile size_t huge_size = SIZE_MAX / 2;
static void *volatile sink;

static std::atomic<int> live_objects{ 0 };

struct Counted {
    std::string name;
    long value;

    Counted() : name("a name long enough to need its own heap block"), value(42)
    {
        live_objects++;
    }

    ~Counted()
    {
        CHECK_EQ(value, 42);
        live_objects--;
    }
};

struct alignas(64) Line {
    unsigned char bytes[64];
};

struct alignas(256) Wide {
    double d[8];
};

static void
check_new_delete()
{
    for (int i = 0; i < 1000; i++) {
        Counted *c = new Counted;
        CHECK_EQ(live_objects.load(), 1);
        delete c;
        Counted *arr = new Counted[(size_t)i % 50 + 1];
        CHECK_EQ(live_objects.load(), i % 50 + 1);
        delete[] arr;
        CHECK_EQ(live_objects.load(), 0);
        int *ints = new int[(size_t)i + 1]();
        for (int k = 0; k <= i; k++)
            CHECK_EQ(ints[k], 0);
        delete[] ints;
    }
}

static void
check_aligned_new()
{
    for (int i = 0; i < 200; i++) {
        Line *l = new Line;
        CHECK_EQ(reinterpret_cast<uintptr_t>(l) % 64, 0);
        memset(l->bytes, i, sizeof l->bytes);
        Line *ls = new Line[(size_t)i + 1];
        CHECK_EQ(reinterpret_cast<uintptr_t>(ls) % 64, 0);
        memset(static_cast<void *>(ls), i, sizeof(Line) * ((size_t)i + 1));
        delete l;
        delete[] ls;
        std::vector<Wide> v((size_t)i + 1);
        CHECK_EQ(reinterpret_cast<uintptr_t>(v.data()) % 256, 0);
        size_t n = 100 + (size_t)i * 97;
        void *page = ::operator new(n, std::align_val_t(4096));
        CHECK_EQ(reinterpret_cast<uintptr_t>(page) % 4096, 0);
        memset(page, 1, n);
        ::operator delete(page, std::align_val_t(4096));
        void *nt = ::operator new[](n, std::align_val_t(4096), std::nothrow);
        CHECK(nt != nullptr);
        CHECK_EQ(reinterpret_cast<uintptr_t>(nt) % 4096, 0);
        ::operator delete[](nt, std::align_val_t(4096));
    }
}

/* thread_local objects that allocate when built and when torn down. */
static std::atomic<long> tl_built{ 0 };
static std::atomic<long> tl_destroyed{ 0 };

struct PerThread {
    std::string text;
    std::vector<int> numbers;

    PerThread() : text(200, 't'), numbers(1000, 7)
    {
        tl_built++;
    }

    ~PerThread()
    {
        CHECK_EQ(text.size(), 200u);
        CHECK_EQ(numbers.size(), 1000u);
        CHECK_EQ(numbers[999], 7);
        /* The destructor allocates too. */
        std::vector<std::string> last(10, text);
        numbers.clear();
        numbers.shrink_to_fit();
        tl_destroyed++;
    }
};

static thread_local PerThread per_thread;

/* A latch: every thread alive at once before any exits. */
static std::mutex latch_mu;
static std::condition_variable latch_cv;
static long latch_arrived;
static bool latch_open;

static void
check_thread_locals()
{
    long n = scale(1000, 200);
    auto shared = std::make_shared<std::vector<int>>(500, 3);
    /* Each thread leaves a make_shared string for the next one to release. */
    std::mutex hand_mu;
    std::vector<std::shared_ptr<std::string>> handed(static_cast<size_t>(n));
    std::vector<std::thread> threads;
    for (long i = 0; i < n; i++) {
        threads.emplace_back([&, i, shared] {
            CHECK_EQ(per_thread.text[0], 't');
            per_thread.numbers.push_back(static_cast<int>(i));
            per_thread.numbers.pop_back();
            CHECK_EQ((*shared)[499], 3);
            auto mine = std::make_shared<std::string>(100 + static_cast<size_t>(i), 's');
            std::shared_ptr<std::string> theirs;
            {
                std::lock_guard<std::mutex> g(hand_mu);
                handed[static_cast<size_t>(i)] = mine;
                theirs = std::move(handed[static_cast<size_t>((i + 1) % n)]);
            }
            if (theirs)
                CHECK_EQ(theirs->at(0), 's');
            mine.reset();
            std::unique_lock<std::mutex> lock(latch_mu);
            latch_arrived++;
            latch_cv.notify_all();
            latch_cv.wait(lock, [] { return latch_open; });
        });
    }
    {
        std::unique_lock<std::mutex> lock(latch_mu);
        latch_cv.wait(lock, [&] { return latch_arrived == n; });
    }
    check_green_threads(n);
    CHECK_EQ(tl_built.load(), n);
    {
        std::lock_guard<std::mutex> g(latch_mu);
        latch_open = true;
    }
    latch_cv.notify_all();
    for (auto &t : threads)
        t.join();
    CHECK_EQ(tl_destroyed.load(), n);
    CHECK_EQ(shared.use_count(), 1);
    /* Whatever strings were not taken are released here, in another thread than their own. */
    for (auto &s : handed)
        if (s)
            CHECK_EQ(s.use_count(), 1);
}

static void
check_exceptions()
{
    enum { THREADS = 16, THROWS = 200 };
    std::vector<std::exception_ptr> caught(THREADS);
    std::vector<std::thread> threads;
    for (int t = 0; t < THREADS; t++) {
        threads.emplace_back([&caught, t] {
            for (int i = 0; i < THROWS; i++) {
                try {
                    throw std::runtime_error(std::string(100, 'e') + std::to_string(t * 1000 + i));
                } catch (const std::runtime_error &e) {
                    CHECK_EQ(std::string(e.what()).size(),
                             100 + std::to_string(t * 1000 + i).size());
                    if (i == THROWS - 1)
                        caught[static_cast<size_t>(t)] = std::current_exception();
                }
            }
        });
    }
    for (auto &th : threads)
        th.join();
    /* Rethrown, and finally freed, in this thread. */
    for (int t = 0; t < THREADS; t++) {
        bool got = false;
        try {
            std::rethrow_exception(caught[static_cast<size_t>(t)]);
        } catch (const std::runtime_error &e) {
            got = std::string(e.what()) ==
                  std::string(100, 'e') + std::to_string(t * 1000 + THROWS - 1);
        }
        CHECK(got);
        caught[static_cast<size_t>(t)] = nullptr;
    }
}

static int handler_calls;

static void
give_up()
{
    handler_calls++;
    std::set_new_handler(nullptr);
}

static void
check_new_failure()
{
    handler_calls = 0;
    size_t huge = huge_size;
    sink = new (std::nothrow) char[huge];
    CHECK(sink == nullptr);
    CHECK(::operator new(huge, std::nothrow) == nullptr);
    CHECK(::operator new[](huge, std::nothrow) == nullptr);
    CHECK(::operator new(huge, std::align_val_t(4096), std::nothrow) == nullptr);
    bool threw = false;
    try {
        sink = new char[huge];
        delete[] static_cast<char *>(sink);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    threw = false;
    try {
        sink = ::operator new(huge);
        ::operator delete(sink);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    threw = false;
    try {
        sink = ::operator new(huge, std::align_val_t(64));
        ::operator delete(sink, std::align_val_t(64));
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    /* operator new calls the new-handler when malloc fails; this one removes itself, so the
     * next failure throws. */
    std::set_new_handler(give_up);
    threw = false;
    try {
        sink = ::operator new(huge);
        ::operator delete(sink);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    CHECK_EQ(handler_calls, 1);
    /* After all that, ordinary requests still succeed. */
    std::string after(10000, 'a');
    CHECK_EQ(after.size(), 10000u);
}

int
main()
{
    check_new_delete();
    check_aligned_new();
    check_thread_locals();
    check_exceptions();
    check_new_failure();
    /* And in a thread other than main. */
    std::thread([] {
        check_new_delete();
        check_aligned_new();
        check_new_failure();
    }).join();
    return 0;
}
