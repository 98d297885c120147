/*
 * bench/main.cc: Google Benchmark registration for the C workloads in shim.h.
 *
 * One binary, build/bench/greenrun-bench, runs natively and under LD_PRELOAD (greenrun,
 * jemalloc or mimalloc). Each benchmark iteration calls one workload for a batch of operations; the
 * workload reports the wall-clock time of its timed region (release of its threads to the last
 * operation, CLOCK_MONOTONIC), which is given to Google Benchmark as manual time. So every
 * reported time is real time, never CPU time, and thread setup is not counted.
 *
 * Counters in the JSON: ns_per_op (wall time / operations over all iterations), ops, and the
 * workload's own metrics averaged over iterations. A workload that fails its own check ends the
 * benchmark with SkipWithError("<reason>"); the report shows it as "failed: <reason>".
 *
 * The context records which preloaded allocator or runtime is mapped (context.preloaded), so
 * the driver can tell a greenrun run that silently ran without greenrun.
 */
#include <benchmark/benchmark.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>

#include "shim.h"

namespace
{

struct spec {
    const char *name;
    wl_fn fn;
    long batch; /* operations per iteration */
    int threads;
    long arg;
    bool once; /* exactly one iteration (the sleepers) */
};

/* Batches are sized for roughly 10-100 ms per iteration on the native run. */
const spec specs[] = {
    { "create_join", wl_create_join, 2000, 1, 0, false },
    { "condvar_pingpong", wl_condvar_pingpong, 20000, 2, 0, false },
    { "sem_pingpong", wl_sem_pingpong, 20000, 2, 0, false },
    { "pipe_pingpong", wl_pipe_pingpong, 20000, 2, 0, false },
    { "socketpair_pingpong", wl_socketpair_pingpong, 20000, 2, 0, false },
    { "yield_pingpong", wl_yield_pingpong, 20000, 2, 0, false },
    { "mutex_uncontended", wl_mutex_uncontended, 2000000, 1, 0, false },
    { "mutex_contended", wl_mutex_contended, 400000, 4, 0, false },
    { "rwlock_readmostly", wl_rwlock_readmostly, 400000, 4, 64, false },
    { "timedwait_expire", wl_timedwait_expire, 3200, 16, 100, false },
    { "sleepers/1000", wl_sleepers, 0, 1000, 10, true },
    { "sleepers/4000", wl_sleepers, 0, 4000, 10, true },
    { "sleepers/10000", wl_sleepers, 0, 10000, 10, true },
    { "malloc_local", wl_malloc_local, 1000000, 1, 0, false },
    { "malloc_cross", wl_malloc_cross, 500000, 2, 0, false },
};

void
run_spec(benchmark::State &state, const spec *s)
{
    wl_params p = { s->batch, s->threads, s->arg };
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
    for (const auto &kv : sums)
        state.counters[kv.first] = kv.second / (double)iters;
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
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
