package main

// System-call counting, as bench/syscount.c does it for the C workloads: the kernel's
// raw_syscalls:sys_enter tracepoint, one perf_event_open counter per thread listed in
// /proc/self/task, each with inherit set, so that the sum covers every thread of the process:
// the runtime's Ms that exist before the count starts and those it creates meanwhile. The
// listing is repeated after opening; a thread it finds without a counter of its own (it may or
// may not be counted through its creator's) makes the whole set be opened again.

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

const (
	perfTypeTracepoint = 2
	perfFlagFdCloexec  = 8
	perfAttrInherit    = 1 << 1
	openAttempts       = 8
)

// perfEventAttr is the first 64 bytes of struct perf_event_attr (PERF_ATTR_SIZE_VER0), all
// that a counting tracepoint needs.
type perfEventAttr struct {
	typ          uint32
	size         uint32
	config       uint64
	samplePeriod uint64
	sampleType   uint64
	readFormat   uint64
	flags        uint64
	wakeupEvents uint32
	bpType       uint32
	config1      uint64
}

var tracepointPaths = []string{
	"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
	"/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
}

func tracepointID() (uint64, error) {
	for _, p := range tracepointPaths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if id, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64); err == nil {
			return id, nil
		}
	}
	return 0, fmt.Errorf("no tracefs: %s unreadable", tracepointPaths[0])
}

// openCounter counts the system calls of thread tid (0: the caller) and of the threads it
// creates from now on.
func openCounter(id uint64, tid int) (int, error) {
	attr := perfEventAttr{typ: perfTypeTracepoint, config: id, flags: perfAttrInherit}
	attr.size = uint32(unsafe.Sizeof(attr))
	fd, _, errno := syscall.Syscall6(syscall.SYS_PERF_EVENT_OPEN, uintptr(unsafe.Pointer(&attr)),
		uintptr(tid), ^uintptr(0), ^uintptr(0), perfFlagFdCloexec, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

func listThreads() (map[int]bool, error) {
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	tids := map[int]bool{}
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids[tid] = true
		}
	}
	return tids, nil
}

// syscountProbe returns nil if counting can work in this process, else the reason.
func syscountProbe() error {
	id, err := tracepointID()
	if err != nil {
		return err
	}
	fd, err := openCounter(id, 0)
	if err != nil {
		return fmt.Errorf("perf_event_open of raw_syscalls:sys_enter: %v", err)
	}
	syscall.Close(fd)
	return nil
}

type syscount struct {
	fds []int
}

func syscountOpen() (*syscount, error) {
	id, err := tracepointID()
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < openAttempts; attempt++ {
		before, err := listThreads()
		if err != nil {
			return nil, err
		}
		sc := &syscount{}
		for tid := range before {
			fd, err := openCounter(id, tid)
			if err == syscall.ESRCH { // the thread ended meanwhile
				continue
			}
			if err != nil {
				sc.close()
				return nil, fmt.Errorf("perf_event_open of raw_syscalls:sys_enter: %v", err)
			}
			sc.fds = append(sc.fds, fd)
		}
		after, err := listThreads()
		complete := err == nil
		for tid := range after {
			complete = complete && before[tid]
		}
		if complete {
			return sc, nil
		}
		sc.close()
	}
	return nil, errors.New("threads kept starting while the counters were opened")
}

// read returns the system calls counted so far over all threads.
func (sc *syscount) read() (int64, error) {
	var sum int64
	for _, fd := range sc.fds {
		var v uint64
		n, err := syscall.Read(fd, (*[8]byte)(unsafe.Pointer(&v))[:])
		if err != nil || n != 8 {
			return -1, fmt.Errorf("reading a counter: %v", err)
		}
		sum += int64(v)
	}
	return sum, nil
}

func (sc *syscount) close() {
	for _, fd := range sc.fds {
		syscall.Close(fd)
	}
	sc.fds = nil
}
