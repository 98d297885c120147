/*
 * bench/main.cc: Google Benchmark registration for the C workloads in shim.h.
 *
 * One binary, build/bench/greenrun-bench, runs natively and under LD_PRELOAD (greenrun,
 * jemalloc or mimalloc). Each benchmark iteration calls one workload for a batch of operations; the
 * workload reports the wall-clock time of its timed region (release of its threads to the last
 * operation, CLOCK_MONOTONIC), which is given to Google Benchmark as manual time. So every
 * reported time is real time, never CPU time, and thread setup is not counted.
 *
 * Counters in the JSON: ns_per_op (wall time / operations over all iterations), ops, the
 * workload's own metrics averaged over iterations, and peak_rss_kb, the process's VmHWM once the
 * benchmark is done. The driver runs one benchmark per process, so that is the workload's peak
 * RSS (with the process's fixed part, the same in every configuration but for the preloaded
 * library's own). A workload that fails its own check ends the benchmark with
 * SkipWithError("<reason>"); the report shows it as "failed: <reason>".
 *
 * The allocator workloads other than the micro ones run exactly one iteration, so every
 * configuration does the same work and their peak RSS compare; --wl_scale=F (default 1)
 * multiplies their operation counts: scripts/bench.sh --quick runs them smaller.
 *
 * The context records which preloaded allocator or runtime is mapped (context.preloaded), so
 * the driver can tell a greenrun run that silently ran without greenrun.
 *
 * System calls per operation (syscalls_per_op), for every workload Google Benchmark iterates
 * (not the one-iteration ones): after the timed iterations, with the process warm, a count pass
 * opens a raw_syscalls:sys_enter counter on every thread of the process (syscount.h), calls the
 * workload once with one operation per thread (the small call) and once with 2n operations (the
 * big call), and divides the difference of the two calls' counts by the difference of their
 * operations. A call's count covers everything in it (starting and joining its threads, opening
 * its fds, the operations, tearing down), so what does not grow with the operations cancels out
 * and what remains is the steady state: the system calls of the operations themselves, made by
 * any thread of the process (the runtime's own threads included). The small call is short, so
 * it adds little of the noise that timing-dependent calls (a wake-up of an idle thread, a
 * monitor's tick) bring to every count. The counters are open only in the count pass, so they
 * never slow the timed iterations; its calls are not timed. n is the workload's batch, made
 * smaller when one timed iteration took over COUNT_PASS_NS. Google Benchmark runs the benchmark
 * function more than once to calibrate; every run makes its count pass, and the JSON keeps the
 * reported run's. Where counting does not work, context.syscall_counting gives the reason and
 * no workload has the counter; a count pass that fails says why in the benchmark's label.
 */
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>

#include "shim.h"
#include "syscount.h"

namespace
{

struct spec {
    const char *name;
    wl_fn fn;
    long batch; /* operations per iteration */
    int threads;
    long arg;
    bool once;   /* exactly one iteration (the sleepers, the allocator workloads) */
    bool scaled; /* batch is multiplied by --wl_scale */
};

double wl_scale = 1.0; /* --wl_scale */

/* Why system calls cannot be counted in this process, or nullptr when they can. */
const char *syscount_unavailable = "not probed";

/* A count pass's calls are each kept to about this long (see the header comment). */
constexpr double COUNT_PASS_NS = 0.2e9;

/*
 * Batches are sized for roughly 10-100 ms per iteration on the native run; the one-iteration
 * allocator workloads for roughly 0.1-0.5 s with glibc at scale 1.
 */
const spec specs[] = {
    { "create_join", wl_create_join, 2000, 1, 0, false, false },
    { "condvar_pingpong", wl_condvar_pingpong, 20000, 2, 0, false, false },
    { "sem_pingpong", wl_sem_pingpong, 20000, 2, 0, false, false },
    { "pipe_pingpong", wl_pipe_pingpong, 20000, 2, 0, false, false },
    { "socketpair_pingpong", wl_socketpair_pingpong, 20000, 2, 0, false, false },
    { "yield_pingpong", wl_yield_pingpong, 20000, 2, 0, false, false },
    { "mutex_uncontended", wl_mutex_uncontended, 2000000, 1, 0, false, false },
    { "mutex_contended", wl_mutex_contended, 400000, 4, 0, false, false },
    { "rwlock_readmostly", wl_rwlock_readmostly, 400000, 4, 64, false, false },
    { "timedwait_expire", wl_timedwait_expire, 3200, 16, 100, false, false },
    { "sleepers/1000", wl_sleepers, 0, 1000, 10, true, false },
    { "sleepers/4000", wl_sleepers, 0, 4000, 10, true, false },
    { "sleepers/10000", wl_sleepers, 0, 10000, 10, true, false },
    { "cpu_latency", wl_cpu_latency, 16, 64, 50, true, false },
    { "spin_latency/2", wl_spin_latency, 500, 2, 0, true, false },
    { "spin_latency/4", wl_spin_latency, 500, 4, 0, true, false },
    { "spin_latency/8", wl_spin_latency, 500, 8, 0, true, false },
    { "malloc_fastpath", wl_malloc_fastpath, 5000000, 1, 64, false, false },
    { "malloc_local", wl_malloc_local, 1000000, 1, 0, false, false },
    { "malloc_cross", wl_malloc_cross, 500000, 2, 0, false, false },
    { "larson/2", wl_larson, 2000000, 2, 10000, true, true },
    { "larson/8", wl_larson, 2000000, 8, 10000, true, true },
    { "prodcons", wl_prodcons, 500000, 4, 64, true, true },
    { "fragmentation", wl_fragmentation, 400000, 1, 0, true, true },
    { "realloc_growth", wl_realloc_growth, 40000, 2, 0, true, true },
    { "large_blocks", wl_large_blocks, 5000, 2, 0, true, true },
};

/* This process's peak RSS (VmHWM) in KiB, or -1. */
double
peak_rss_kb()
{
    std::ifstream status("/proc/self/status");
    std::string line;

    while (std::getline(status, line)) {
        if (line.compare(0, 6, "VmHWM:") == 0)
            return std::strtod(line.c_str() + 6, nullptr);
    }
    return -1;
}

/*
 * The count pass: the workload with one operation per thread and with 2n operations under open
 * counters. Sets the counters syscalls_per_op, syscalls_counted_ops (the difference of the
 * calls' operations), syscalls_small_call and syscalls_big_call (each call's whole count).
 * Returns false, with the reason in *err, when the workload itself failed; a counting failure
 * only sets the label.
 */
bool
count_syscalls(benchmark::State &state, const spec *s, const wl_params &timed, double iter_ns,
               std::string *err)
{
    long n = timed.ops;
    if (iter_ns > COUNT_PASS_NS)
        n = std::max(100L * s->threads, std::lround((double)n * COUNT_PASS_NS / iter_ns));
    wl_params p1 = { s->threads, s->threads, s->arg };
    wl_params p2 = { 2 * n, s->threads, s->arg };
    wl_result r1, r2;
    bu_syscount sc;
    char why[192];

    std::memset(&r1, 0, sizeof(r1));
    std::memset(&r2, 0, sizeof(r2));
    if (bu_syscount_open(&sc, why, sizeof(why)) != 0) {
        state.SetLabel(std::string("syscalls not counted: ") + why);
        return true;
    }
    int64_t c0 = bu_syscount_read(&sc);
    int rc = s->fn(&p1, &r1);
    int64_t c1 = bu_syscount_read(&sc);
    if (rc == 0)
        rc = s->fn(&p2, &r2);
    int64_t c2 = bu_syscount_read(&sc);
    bu_syscount_close(&sc);
    if (rc != 0) {
        *err = r1.err[0] != '\0' ? r1.err : r2.err;
        return false;
    }
    long ops = r2.ops_done - r1.ops_done;
    if (c0 < 0 || c1 < 0 || c2 < 0 || ops <= 0) {
        state.SetLabel("syscalls not counted: a counter could not be read");
        return true;
    }
    state.counters["syscalls_per_op"] = (double)((c2 - c1) - (c1 - c0)) / (double)ops;
    state.counters["syscalls_counted_ops"] = (double)ops;
    state.counters["syscalls_small_call"] = (double)(c1 - c0);
    state.counters["syscalls_big_call"] = (double)(c2 - c1);
    return true;
}

void
run_spec(benchmark::State &state, const spec *s)
{
    long batch = s->scaled ? std::max(1L, std::lround((double)s->batch * wl_scale)) : s->batch;
    wl_params p = { batch, s->threads, s->arg };
    double total_ns = 0, total_ops = 0;
    std::map<std::string, double> sums;
    long iters = 0;
    static thread_local std::string error;

    for (auto _ : state) {
        wl_result r;
        std::memset(&r, 0, sizeof(r));
        if (s->fn(&p, &r) != 0) {
            error = r.err;
            state.SkipWithError(error.c_str());
            break;
        }
        state.SetIterationTime((double)r.wall_ns / 1e9);
        total_ns += (double)r.wall_ns;
        total_ops += (double)r.ops_done;
        for (int i = 0; i < r.nmetrics; i++)
            sums[r.metrics[i].name] += r.metrics[i].value;
        iters++;
    }
    if (iters == 0 || total_ops == 0)
        return;
    state.counters["ns_per_op"] = total_ns / total_ops;
    state.counters["ops"] = total_ops;
    state.counters["threads"] = s->threads;
    state.counters["peak_rss_kb"] = peak_rss_kb();
    for (const auto &kv : sums)
        state.counters[kv.first] = kv.second / (double)iters;
    if (!s->once && syscount_unavailable == nullptr &&
        !count_syscalls(state, s, p, total_ns / (double)iters, &error))
        state.SkipWithError(error.c_str());
}

/* Names of the interesting preloaded libraries mapped into this process. */
std::string
preloaded_libraries()
{
    std::ifstream maps("/proc/self/maps");
    std::string line, found;

    while (std::getline(maps, line)) {
        for (const char *lib : { "libgreenrun", "libjemalloc", "libmimalloc" }) {
            if (line.find(lib) != std::string::npos && found.find(lib) == std::string::npos)
                found += found.empty() ? lib : std::string(",") + lib;
        }
    }
    return found.empty() ? "none" : found;
}

} /* namespace */

int
main(int argc, char **argv)
{
    /* A failed ping-pong peer must show up as an error, not kill the process with SIGPIPE. */
    std::signal(SIGPIPE, SIG_IGN);
    /* Our own flag, taken out before Google Benchmark sees the arguments. */
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        if (std::strncmp(argv[i], "--wl_scale=", 11) == 0) {
            char *end;
            wl_scale = std::strtod(argv[i] + 11, &end);
            if (*end != '\0' || !(wl_scale > 0)) {
                std::fprintf(stderr, "greenrun-bench: --wl_scale wants a number above 0\n");
                return 2;
            }
        } else {
            argv[kept++] = argv[i];
        }
    }
    argc = kept;
    argv[argc] = nullptr;
    for (const spec &s : specs) {
        benchmark::internal::Benchmark *b =
            benchmark::RegisterBenchmark(s.name, [&s](benchmark::State &st) { run_spec(st, &s); });
        b->UseManualTime()->Unit(benchmark::kMicrosecond);
        if (s.once)
            b->Iterations(1);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::AddCustomContext("preloaded", preloaded_libraries());
    benchmark::AddCustomContext("wl_scale", std::to_string(wl_scale));
    syscount_unavailable = bu_syscount_probe();
    benchmark::AddCustomContext("syscall_counting",
                                syscount_unavailable == nullptr ?
                                    "raw_syscalls:sys_enter, every thread" :
                                    std::string("unavailable: ") + syscount_unavailable);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
