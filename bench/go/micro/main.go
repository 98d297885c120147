// Command go-bench is the Go anchor for greenrun's micro benchmarks: the workloads of
// bench/wl_*.c written the way a Go program would write them (goroutines, channels, sync),
// standard library only.
//
// Usage:
//
//	go-bench -bench NAME [-mintime SECONDS] [-out FILE]
//	go-bench -blocked N [-t SECONDS] [-m RESERVE_MIB] [-out FILE]
//
// -bench runs one workload in batches until -mintime seconds of measured time have passed
// (the sleepers run once) and writes JSON shaped like Google Benchmark's, with the same
// counters (ns_per_op, ops and the workload's metrics), so the report reads both alike.
// Times are wall-clock times of the timed region: from the release of the goroutines to the
// last operation. -blocked parks N goroutines on a channel and reports their memory like
// build/bench/blocked-threads. A failed check prints an error entry and exits with status 1.
//
// System calls per operation (syscalls_per_op), as bench/main.cc counts them: after the timed
// batches, a count pass opens a counter on every thread of the process (syscount.go), runs the
// workload once with one operation per goroutine (the small batch) and once with 2n (the big
// batch), and divides the difference of their counts by the difference of their operations,
// so what does not grow with the operations (starting goroutines, opening fds) cancels out. n
// is the batch, made smaller when a timed batch took over countPassNs. The once-only workloads
// (sleepers) are not counted. context.syscall_counting says whether counting works here; a
// count pass that fails says why in the entry's label.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// result is what one batch reports, as struct wl_result does in bench/shim.h.
type result struct {
	wall    time.Duration
	ops     int64
	metrics map[string]float64
}

type workload struct {
	batch   int64 // operations per batch
	threads int
	arg     int64
	once    bool
	run     func(w *workload) (result, error)
}

// Batches and parameters match the table in bench/main.cc.
var workloads = map[string]*workload{
	"create_join":         {batch: 2000, threads: 1, run: createJoin},
	"condvar_pingpong":    {batch: 20000, threads: 2, run: chanPingPong},
	"sem_pingpong":        {batch: 20000, threads: 2, run: semPingPong},
	"pipe_pingpong":       {batch: 20000, threads: 2, run: pipePingPong},
	"socketpair_pingpong": {batch: 20000, threads: 2, run: socketpairPingPong},
	"yield_pingpong":      {batch: 20000, threads: 2, run: yieldPingPong},
	"mutex_uncontended":   {batch: 2000000, threads: 1, run: mutexUncontended},
	"mutex_contended":     {batch: 400000, threads: 4, run: mutexContended},
	"rwlock_readmostly":   {batch: 400000, threads: 4, arg: 64, run: rwlockReadMostly},
	"timedwait_expire":    {batch: 3200, threads: 16, arg: 100, run: timedWaitExpire},
	"sleepers/1000":       {threads: 1000, arg: 10, once: true, run: sleepers},
	"sleepers/4000":       {threads: 4000, arg: 10, once: true, run: sleepers},
	"sleepers/10000":      {threads: 10000, arg: 10, once: true, run: sleepers},
	"cpu_latency":         {batch: 16, threads: 64, arg: 50, once: true, run: cpuLatency},
}

func createJoin(w *workload) (result, error) {
	done := make(chan int64)
	t0 := time.Now()
	for i := int64(1); i <= w.batch; i++ {
		go func(v int64) { done <- v }(i)
		if got := <-done; got != i {
			return result{}, fmt.Errorf("goroutine %d returned %d", i, got)
		}
	}
	return result{wall: time.Since(t0), ops: w.batch}, nil
}

// chanPingPong is the Go counterpart of the mutex+condvar ping-pong: a round trip over two
// unbuffered channels.
func chanPingPong(w *workload) (result, error) {
	ping, pong := make(chan int64), make(chan int64)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	t0 := time.Now()
	for i := int64(0); i < w.batch; i++ {
		ping <- i
		if got := <-pong; got != i {
			return result{}, fmt.Errorf("echo was %d, want %d", got, i)
		}
	}
	wall := time.Since(t0)
	close(ping)
	return result{wall: wall, ops: w.batch}, nil
}

// semPingPong uses two channels of capacity one as semaphores.
func semPingPong(w *workload) (result, error) {
	a, b := make(chan struct{}, 1), make(chan struct{}, 1)
	var rounds int64
	done := make(chan struct{})
	go func() {
		for i := int64(0); i < w.batch; i++ {
			<-b
			rounds++
			a <- struct{}{}
		}
		close(done)
	}()
	t0 := time.Now()
	for i := int64(0); i < w.batch; i++ {
		b <- struct{}{}
		<-a
	}
	wall := time.Since(t0)
	<-done
	if rounds != w.batch {
		return result{}, fmt.Errorf("helper saw %d posts, want %d", rounds, w.batch)
	}
	return result{wall: wall, ops: w.batch}, nil
}

// streamPingPong sends 8-byte sequence numbers through toHelper, the helper checks and echoes
// them through toMain.
func streamPingPong(ops int64, toHelper io.Writer, atHelper io.Reader, toMain io.Writer,
	atMain io.Reader) (time.Duration, error) {
	helperErr := make(chan error, 1)
	go func() {
		var buf [8]byte
		for i := int64(0); i < ops; i++ {
			if _, err := io.ReadFull(atHelper, buf[:]); err != nil {
				helperErr <- fmt.Errorf("helper read: %v", err)
				return
			}
			if got := int64(leUint64(buf[:])); got != i {
				helperErr <- fmt.Errorf("helper got message %d, want %d", got, i)
				return
			}
			if _, err := toMain.Write(buf[:]); err != nil {
				helperErr <- fmt.Errorf("helper write: %v", err)
				return
			}
		}
		helperErr <- nil
	}()
	var buf [8]byte
	t0 := time.Now()
	for i := int64(0); i < ops; i++ {
		putLeUint64(buf[:], uint64(i))
		if _, err := toHelper.Write(buf[:]); err != nil {
			return 0, fmt.Errorf("write: %v", err)
		}
		if _, err := io.ReadFull(atMain, buf[:]); err != nil {
			return 0, fmt.Errorf("read: %v", err)
		}
		if got := int64(leUint64(buf[:])); got != i {
			return 0, fmt.Errorf("echo was message %d, want %d", got, i)
		}
	}
	wall := time.Since(t0)
	return wall, <-helperErr
}

func pipePingPong(w *workload) (result, error) {
	ar, aw, err := os.Pipe()
	if err != nil {
		return result{}, err
	}
	br, bw, err := os.Pipe()
	if err != nil {
		return result{}, err
	}
	defer func() { ar.Close(); aw.Close(); br.Close(); bw.Close() }()
	wall, err := streamPingPong(w.batch, aw, ar, bw, br)
	return result{wall: wall, ops: w.batch}, err
}

func socketpairPingPong(w *workload) (result, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return result{}, err
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		conns[i], err = net.FileConn(f) // dups fd into the netpoller
		f.Close()
		if err != nil {
			return result{}, err
		}
	}
	defer func() { conns[0].Close(); conns[1].Close() }()
	wall, err := streamPingPong(w.batch, conns[0], conns[1], conns[1], conns[0])
	return result{wall: wall, ops: w.batch}, err
}

func yieldPingPong(w *workload) (result, error) {
	var turn int32
	var rounds int64
	done := make(chan struct{})
	go func() {
		for i := int64(0); i < w.batch; i++ {
			for atomic.LoadInt32(&turn) != 1 {
				runtime.Gosched()
			}
			rounds++
			atomic.StoreInt32(&turn, 0)
		}
		close(done)
	}()
	t0 := time.Now()
	for i := int64(0); i < w.batch; i++ {
		atomic.StoreInt32(&turn, 1)
		for atomic.LoadInt32(&turn) != 0 {
			runtime.Gosched()
		}
	}
	wall := time.Since(t0)
	<-done
	if rounds != w.batch {
		return result{}, fmt.Errorf("helper saw %d turns, want %d", rounds, w.batch)
	}
	return result{wall: wall, ops: w.batch}, nil
}

func mutexUncontended(w *workload) (result, error) {
	var mu sync.Mutex
	var counter int64
	t0 := time.Now()
	for i := int64(0); i < w.batch; i++ {
		mu.Lock()
		counter++
		mu.Unlock()
	}
	wall := time.Since(t0)
	if counter != w.batch {
		return result{}, fmt.Errorf("counter is %d, want %d", counter, w.batch)
	}
	return result{wall: wall, ops: w.batch}, nil
}

// released starts n goroutines that wait for a common release, runs body(i) in each, and
// returns the time from the release to the last goroutine's end.
func released(n int, body func(i int)) time.Duration {
	var ready, finished sync.WaitGroup
	gate := make(chan struct{})
	var endMax int64
	ready.Add(n)
	finished.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			ready.Done()
			<-gate
			body(i)
			end := int64(time.Since(processStart))
			for {
				seen := atomic.LoadInt64(&endMax)
				if end <= seen || atomic.CompareAndSwapInt64(&endMax, seen, end) {
					break
				}
			}
			finished.Done()
		}(i)
	}
	ready.Wait()
	t0 := time.Since(processStart)
	close(gate)
	finished.Wait()
	return time.Duration(atomic.LoadInt64(&endMax)) - t0
}

var processStart = time.Now()

func mutexContended(w *workload) (result, error) {
	var mu sync.Mutex
	var counter int64
	per := w.batch / int64(w.threads)
	wall := released(w.threads, func(int) {
		for i := int64(0); i < per; i++ {
			mu.Lock()
			counter++
			mu.Unlock()
		}
	})
	if counter != per*int64(w.threads) {
		return result{}, fmt.Errorf("counter is %d, want %d", counter, per*int64(w.threads))
	}
	return result{wall: wall, ops: per * int64(w.threads)}, nil
}

func rwlockReadMostly(w *workload) (result, error) {
	var mu sync.RWMutex
	var record [8]int64
	var torn int64
	per := w.batch / int64(w.threads)
	wall := released(w.threads, func(int) {
		for i := int64(1); i <= per; i++ {
			if i%w.arg == 0 {
				mu.Lock()
				for k := range record {
					record[k]++
				}
				mu.Unlock()
			} else {
				mu.RLock()
				first := record[0]
				for k := 1; k < len(record); k++ {
					if record[k] != first {
						atomic.AddInt64(&torn, 1)
					}
				}
				mu.RUnlock()
			}
		}
	})
	writes := (per / w.arg) * int64(w.threads)
	if torn != 0 {
		return result{}, fmt.Errorf("%d reads saw a half-written record", torn)
	}
	if record[0] != writes {
		return result{}, fmt.Errorf("record is %d, want %d writes", record[0], writes)
	}
	return result{wall: wall, ops: per * int64(w.threads)}, nil
}

// timedWaitExpire is the counterpart of pthread_cond_timedwait timing out: a select on a
// channel nobody sends to and a timer.
func timedWaitExpire(w *workload) (result, error) {
	timeout := time.Duration(w.arg) * time.Microsecond
	per := (w.batch + int64(w.threads) - 1) / int64(w.threads)
	sums := make([]time.Duration, w.threads)
	mins := make([]time.Duration, w.threads)
	early := int32(0)
	never := make(chan struct{})
	wall := released(w.threads, func(g int) {
		timer := time.NewTimer(time.Hour)
		timer.Stop()
		mins[g] = time.Hour
		for i := int64(0); i < per; i++ {
			start := time.Now()
			timer.Reset(timeout)
			select {
			case <-never:
			case <-timer.C:
			}
			d := time.Since(start)
			if d < timeout {
				atomic.StoreInt32(&early, 1)
			}
			sums[g] += d
			if d < mins[g] {
				mins[g] = d
			}
		}
	})
	if early != 0 {
		return result{}, fmt.Errorf("a timed wait of %v returned before its deadline", timeout)
	}
	var sum, min time.Duration = 0, time.Hour
	for g := range sums {
		sum += sums[g]
		if mins[g] < min {
			min = mins[g]
		}
	}
	total := per * int64(w.threads)
	mean := float64(sum) / float64(total)
	return result{wall: wall, ops: total, metrics: map[string]float64{
		"mean_wait_us": mean / 1e3,
		"overshoot_us": (mean - float64(timeout)) / 1e3,
		"min_wait_us":  float64(min) / 1e3,
	}}, nil
}

func sleepers(w *workload) (result, error) {
	n, k := w.threads, int(w.arg)
	samples := make([]int64, n*k)
	wall := released(n, func(g int) {
		t := time.Now()
		for i := 0; i < k; i++ {
			time.Sleep(time.Millisecond)
			now := time.Now()
			samples[g*k+i] = int64(now.Sub(t))
			t = now
		}
	})
	var sum int64
	for _, s := range samples {
		if s < int64(time.Millisecond) {
			return result{}, fmt.Errorf("a 1 ms sleep returned after %d ns", s)
		}
		sum += s
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	mean := float64(sum) / float64(len(samples))
	return result{wall: wall, ops: int64(len(samples)), metrics: map[string]float64{
		"wall_ms":       float64(wall) / 1e6,
		"mean_sleep_us": mean / 1e3,
		"overshoot_us":  (mean - 1e6) / 1e3,
		"p50_sleep_us":  float64(quantile(samples, 0.50)) / 1e3,
		"p99_sleep_us":  float64(quantile(samples, 0.99)) / 1e3,
		"max_sleep_us":  float64(samples[len(samples)-1]) / 1e3,
	}}, nil
}

// cpuLatency is bench/wl_latency.c's cpu_latency: threads goroutines churn (allocate, fill and
// drop a buffer, then a few hundred steps of arithmetic) while a ticker sleeps 1 ms over and over
// and the main goroutine runs batch rounds of starting a probe goroutine and sleeping arg ms.
func cpuLatency(w *workload) (result, error) {
	var stop, measuring atomic.Bool
	var sink atomic.Uint64
	var wg sync.WaitGroup
	ticks := make([]int64, 0, 100000)
	tickerDone := make(chan struct{})
	go func() {
		defer close(tickerDone)
		for !stop.Load() && len(ticks) < cap(ticks) {
			t0 := time.Now()
			time.Sleep(time.Millisecond)
			late := int64(time.Since(t0) - time.Millisecond)
			if measuring.Load() {
				ticks = append(ticks, late)
			}
		}
	}()
	for i := 0; i < w.threads; i++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			x, acc := seed|1, uint64(0)
			for !stop.Load() {
				buf := make([]byte, 64+(x>>7)%4032)
				for j := range buf {
					buf[j] = byte(x)
				}
				acc += uint64(buf[len(buf)/2])
				for j := 0; j < 300; j++ {
					x ^= x << 13
					x ^= x >> 7
					x ^= x << 17
					acc += x
				}
			}
			sink.Add(acc)
		}(uint64(i) * 0x9e3779b97f4a7c15)
	}
	rounds := int(w.batch)
	start, late := make([]int64, rounds), make([]int64, rounds)
	sleep := time.Duration(w.arg) * time.Millisecond
	measuring.Store(true)
	t0 := time.Now()
	for i := 0; i < rounds; i++ {
		ran := make(chan time.Time, 1)
		created := time.Now()
		go func() { ran <- time.Now() }()
		s0 := time.Now()
		time.Sleep(sleep)
		late[i] = int64(time.Since(s0) - sleep)
		start[i] = int64((<-ran).Sub(created))
	}
	wall := time.Since(t0)
	stop.Store(true)
	<-tickerDone
	wg.Wait()
	if len(ticks) == 0 {
		return result{}, fmt.Errorf("the ticker never woke")
	}
	for _, v := range [][]int64{start, late, ticks} {
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	}
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	return result{wall: wall, ops: int64(len(ticks)), metrics: map[string]float64{
		"start_max_ms":      ms(start[rounds-1]),
		"start_p50_ms":      ms(quantile(start, 0.50)),
		"sleep_late_max_ms": ms(late[rounds-1]),
		"tick_late_p50_ms":  ms(quantile(ticks, 0.50)),
		"tick_late_p99_ms":  ms(quantile(ticks, 0.99)),
		"tick_late_max_ms":  ms(ticks[len(ticks)-1]),
	}}, nil
}

func quantile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func leUint64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func putLeUint64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}

// procStatus reads one "Key: value" field of /proc/self/status (kB for memory fields).
func procStatus(key string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, key+":") {
			f := strings.Fields(line[len(key)+1:])
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return -1
}

// countPassNs keeps each batch of a count pass to about this long.
const countPassNs = 0.2e9

// countSyscalls runs the count pass for w, whose timed batches took iterNs each, and adds its
// counters to entry: syscalls_per_op, syscalls_counted_ops (the difference of the batches'
// operations), syscalls_small_call and syscalls_big_call (each batch's whole count). An error
// is the workload's own failure; a counting failure only sets the label.
func countSyscalls(w *workload, iterNs float64, entry map[string]interface{}) error {
	n := w.batch
	if iterNs > countPassNs {
		n = int64(float64(n) * countPassNs / iterNs)
		if min := 100 * int64(w.threads); n < min {
			n = min
		}
	}
	small, big := *w, *w
	small.batch = int64(w.threads)
	big.batch = 2 * n
	sc, err := syscountOpen()
	if err != nil {
		entry["label"] = "syscalls not counted: " + err.Error()
		return nil
	}
	defer sc.close()
	c0, err0 := sc.read()
	r1, err := small.run(&small)
	if err != nil {
		return err
	}
	c1, err1 := sc.read()
	r2, err := big.run(&big)
	if err != nil {
		return err
	}
	c2, err2 := sc.read()
	ops := r2.ops - r1.ops
	if err0 != nil || err1 != nil || err2 != nil || ops <= 0 {
		entry["label"] = "syscalls not counted: a counter could not be read"
		return nil
	}
	entry["syscalls_per_op"] = float64((c2-c1)-(c1-c0)) / float64(ops)
	entry["syscalls_counted_ops"] = ops
	entry["syscalls_small_call"] = c1 - c0
	entry["syscalls_big_call"] = c2 - c1
	return nil
}

// syscountErr is why system calls cannot be counted in this process, or nil.
var syscountErr = errors.New("not probed")

func runBench(name string, minTime float64) (map[string]interface{}, error) {
	w, ok := workloads[name]
	if !ok {
		return nil, errors.New("no Go version of this workload")
	}
	var totalNs, totalOps float64
	sums := map[string]float64{}
	iters := 0
	for {
		r, err := w.run(w)
		if err != nil {
			return nil, err
		}
		totalNs += float64(r.wall)
		totalOps += float64(r.ops)
		for k, v := range r.metrics {
			sums[k] += v
		}
		iters++
		if w.once || totalNs >= minTime*1e9 {
			break
		}
	}
	entry := map[string]interface{}{
		"name":       name,
		"run_type":   "iteration",
		"iterations": iters,
		"real_time":  totalNs / float64(iters) / 1e3,
		"time_unit":  "us",
		"ns_per_op":  totalNs / totalOps,
		"ops":        totalOps,
		"threads":    w.threads,
	}
	for k, v := range sums {
		entry[k] = v / float64(iters)
	}
	if !w.once && syscountErr == nil {
		if err := countSyscalls(w, totalNs/float64(iters), entry); err != nil {
			return nil, err
		}
	}
	return entry, nil
}

// memAvailableMiB reads MemAvailable from /proc/meminfo, or returns -1.
func memAvailableMiB() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "MemAvailable:") {
			f := strings.Fields(line[len("MemAvailable:"):])
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v / 1024
			}
		}
	}
	return -1
}

// blocked parks goroutines until target, the time budget, or MemAvailable under reserveMiB,
// like bench/blocked_threads.c.
func blocked(target int, budget time.Duration, reserveMiB int64) map[string]interface{} {
	release := make(chan struct{})
	var blockedCount, finished int64
	var wg sync.WaitGroup
	rss0 := procStatus("VmRSS")
	t0 := time.Now()
	held := 0
	stop := "target reached"
	for held < target {
		wg.Add(1)
		go func() {
			atomic.AddInt64(&blockedCount, 1)
			<-release
			atomic.AddInt64(&finished, 1)
			wg.Done()
		}()
		held++
		if held%1024 == 0 && time.Since(t0) > budget {
			stop = fmt.Sprintf("time budget of %.0f s", budget.Seconds())
			break
		}
		if held%8192 == 0 {
			if avail := memAvailableMiB(); avail >= 0 && avail < reserveMiB {
				stop = fmt.Sprintf("memory: MemAvailable under %d MiB", reserveMiB)
				break
			}
		}
	}
	// Every goroutine is blocked once it has counted itself; the receive follows at once.
	for atomic.LoadInt64(&blockedCount) < int64(held) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	t1 := time.Now()
	rss := procStatus("VmRSS")
	osThreads := procStatus("Threads")
	vmSize := procStatus("VmSize")
	close(release)
	wg.Wait()
	t2 := time.Now()
	if finished != int64(held) {
		return map[string]interface{}{"ok": false,
			"error": fmt.Sprintf("%d of %d goroutines finished", finished, held)}
	}
	return map[string]interface{}{
		"ok": true, "target": target, "held": held, "stopped_by": stop,
		"rss_base_kb": rss0, "rss_kb": rss,
		"rss_per_thread_bytes": float64(rss-rss0) * 1024 / float64(held),
		"vm_size_kb":           vmSize, "vm_hwm_kb": procStatus("VmHWM"),
		"os_threads": osThreads, "create_s": t1.Sub(t0).Seconds(),
		"release_join_s": t2.Sub(t1).Seconds(),
	}
}

func main() {
	name := flag.String("bench", "", "workload to run (a name from bench/main.cc)")
	minTime := flag.Float64("mintime", 0.5, "seconds of measured time per workload")
	nblocked := flag.Int("blocked", 0, "park this many goroutines and report their memory")
	budget := flag.Float64("t", 120, "time budget in seconds for -blocked")
	reserve := flag.Int64("m", 2048, "-blocked stops when MemAvailable falls under this (MiB)")
	out := flag.String("out", "", "write the JSON here instead of stdout")
	flag.Parse()

	var doc interface{}
	status := 0
	if *nblocked > 0 {
		res := blocked(*nblocked, time.Duration(*budget*float64(time.Second)), *reserve)
		if res["ok"] != true {
			status = 1
		}
		doc = res
	} else {
		syscountErr = syscountProbe()
		counting := "raw_syscalls:sys_enter, every thread"
		if syscountErr != nil {
			counting = "unavailable: " + syscountErr.Error()
		}
		entry, err := runBench(*name, *minTime)
		if err != nil {
			entry = map[string]interface{}{"name": *name, "run_type": "iteration",
				"error_occurred": true, "error_message": err.Error()}
			status = 1
		}
		doc = map[string]interface{}{
			"context": map[string]interface{}{
				"executable": os.Args[0], "go_version": runtime.Version(),
				"gomaxprocs": runtime.GOMAXPROCS(0), "num_cpus": runtime.NumCPU(),
				"syscall_counting": counting,
			},
			"benchmarks": []interface{}{entry},
		}
	}
	data, _ := json.MarshalIndent(doc, "", "  ")
	data = append(data, '\n')
	if *out != "" {
		if err := os.WriteFile(*out, data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	} else {
		os.Stdout.Write(data)
	}
	os.Exit(status)
}
