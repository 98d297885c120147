/* tests/tls_cxx_thread_local.cc
 * Behaviour: a C++ thread_local object is constructed on first use in each thread and destroyed at
 * that thread's exit, in that thread, before pthread key destructors run and before pthread_join
 * returns; threads that never touch it never construct it; std::thread, std::mutex and
 * std::condition_variable (including wait_for, which uses pthread_cond_clockwait) work.
 */
#include "check.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

static std::atomic<int> constructed{ 0 };
static std::atomic<int> destroyed{ 0 };
static std::atomic<int> destroyed_in_wrong_thread{ 0 };
static std::atomic<int> destroyed_after_key{ 0 };
static std::atomic<long> destroyed_sum{ 0 };
static __thread int key_destructor_ran;
static pthread_key_t order_key;

struct Tracker {
    long id = -1;
    pthread_t owner;
    std::string text;
    std::vector<int> data;

    Tracker() : owner(pthread_self()), text("a string long enough to live on the heap, surely")
    {
        constructed++;
        data.resize(100, 7);
    }

    ~Tracker()
    {
        if (!pthread_equal(owner, pthread_self()))
            destroyed_in_wrong_thread++;
        if (key_destructor_ran)
            destroyed_after_key++;
        CHECK_EQ(data.size(), 100u);
        CHECK(text.size() > 20);
        destroyed_sum += id;
        destroyed++;
    }
};

static thread_local Tracker tracker;
static thread_local int plain_counter = 10;

static void
key_destructor(void *value)
{
    (void)value;
    key_destructor_ran = 1;
}

static void *
toucher(void *arg)
{
    long id = reinterpret_cast<long>(arg);
    CHECK_OK(pthread_setspecific(order_key, arg));
    tracker.id = id;
    plain_counter += static_cast<int>(id);
    sched_yield();
    sleep_ns(1000);
    CHECK_EQ(tracker.id, id);
    CHECK_EQ(plain_counter, 10 + id);
    CHECK(pthread_equal(tracker.owner, pthread_self()));
    return nullptr;
}

static void *
non_toucher(void *arg)
{
    (void)arg;
    CHECK_EQ(plain_counter, 10);
    return nullptr;
}

static void
check_pthreads()
{
    CHECK_OK(pthread_key_create(&order_key, key_destructor));
    enum { N = 32 };
    pthread_t t[N];
    long sum = 0;
    for (long i = 1; i <= N; i++) {
        t[i - 1] = spawn(toucher, reinterpret_cast<void *>(i));
        sum += i;
    }
    for (int i = 0; i < N; i++) {
        join_within(t[i], 10);
        /* The destructors of every thread joined so far have run. */
        CHECK(destroyed.load() >= i + 1);
    }
    CHECK_EQ(constructed.load(), N);
    CHECK_EQ(destroyed.load(), N);
    CHECK_EQ(destroyed_sum.load(), sum);
    CHECK_EQ(destroyed_in_wrong_thread.load(), 0);
    CHECK_EQ(destroyed_after_key.load(), 0);

    join_within(spawn(non_toucher, nullptr), 10);
    CHECK_EQ(constructed.load(), N);
    CHECK_EQ(destroyed.load(), N);
}

static void
check_std_thread()
{
    int before = destroyed.load();
    std::mutex mu;
    std::condition_variable cv;
    int turn = 0;
    long counter = 0;
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; i++) {
        threads.emplace_back([&, i] {
            tracker.id = 1000 + i;
            for (int k = 0; k < 1000; k++) {
                std::unique_lock<std::mutex> lock(mu);
                cv.wait(lock, [&] { return turn % 4 == i; });
                turn++;
                counter++;
                cv.notify_all();
            }
        });
    }
    for (auto &th : threads)
        th.join();
    CHECK_EQ(counter, 4000);
    CHECK_EQ(destroyed.load(), before + 4);

    /* wait_for times out no earlier than asked (steady clock: pthread_cond_clockwait). */
    std::unique_lock<std::mutex> lock(mu);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(cv.wait_for(lock, std::chrono::milliseconds(50)) == std::cv_status::timeout);
    CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(50));
    auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(30);
    CHECK(cv.wait_until(lock, deadline) == std::cv_status::timeout);
    CHECK(std::chrono::system_clock::now() >= deadline);
    lock.unlock();

    /* std::this_thread::sleep_for and a detached std::thread that reports back. */
    std::atomic<int> done{ 0 };
    std::thread([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        std::lock_guard<std::mutex> g(mu);
        done = 1;
        cv.notify_all();
    }).detach();
    lock.lock();
    CHECK(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done.load() == 1; }));
}

int
main()
{
    check_pthreads();
    check_std_thread();
    return 0;
}
