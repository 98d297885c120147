// Command go-pool-server is the Go anchor for the pool macro benchmark: the thread-pool server
// of bench/pool_server.c written with goroutines, standard library only.
//
// Usage: go-pool-server [-p PORT] [-W WORKERS] [-t POLL_MS]
// Listens on 127.0.0.1:PORT (0 picks a free port), prints "port N" on stdout, and runs until
// killed. The accepting goroutine puts every connection on a work queue (a sync.Mutex, a
// sync.Cond and a slice used as a ring); WORKERS goroutines (64) take connections off it.
// A worker waits for the connection's next request with a read deadline POLL_MS ahead (Go's
// form of poll with a timeout), echoes what it read and puts the keep-alive connection back at
// the tail of the queue; a read that times out puts the idle connection back too.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// queue is the work queue; mu protects conns, nonempty is signalled by every put.
type queue struct {
	mu       sync.Mutex
	nonempty *sync.Cond
	conns    []net.Conn
	head     int
}

func newQueue() *queue {
	q := &queue{}
	q.nonempty = sync.NewCond(&q.mu)
	return q
}

func (q *queue) put(c net.Conn) {
	q.mu.Lock()
	q.conns = append(q.conns, c)
	q.nonempty.Signal()
	q.mu.Unlock()
}

func (q *queue) take() net.Conn {
	q.mu.Lock()
	for q.head == len(q.conns) {
		q.nonempty.Wait()
	}
	c := q.conns[q.head]
	q.conns[q.head] = nil
	q.head++
	// Move the queued connections to the slice's start once half of it is spent, so a queue
	// that never drains (more connections than workers) does not grow forever.
	if q.head*2 >= len(q.conns) {
		n := copy(q.conns, q.conns[q.head:])
		q.conns = q.conns[:n]
		q.head = 0
	}
	q.mu.Unlock()
	return c
}

// serveOne serves one request of c if one comes within wait; false when c is done.
func serveOne(c net.Conn, buf []byte, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Read(buf)
	if n > 0 {
		if _, werr := c.Write(buf[:n]); werr != nil {
			return false
		}
	}
	if err != nil {
		return errors.Is(err, os.ErrDeadlineExceeded)
	}
	return true
}

func worker(q *queue, wait time.Duration) {
	buf := make([]byte, 4096)
	for {
		c := q.take()
		if serveOne(c, buf, wait) {
			q.put(c)
		} else {
			c.Close()
		}
	}
}

func main() {
	port := flag.Int("p", 0, "port on 127.0.0.1 (0 = any free port)")
	workers := flag.Int("W", 64, "worker goroutines")
	pollMs := flag.Int("t", 100, "wait for a request this many ms before requeueing")
	flag.Parse()
	if *workers < 1 || *pollMs < 0 {
		fmt.Fprintln(os.Stderr, "go-pool-server: need -W >= 1 and -t >= 0")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-pool-server:", err)
		os.Exit(1)
	}
	q := newQueue()
	for i := 0; i < *workers; i++ {
		go worker(q, time.Duration(*pollMs)*time.Millisecond)
	}
	fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "go-pool-server: accept:", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		q.put(c)
	}
}
