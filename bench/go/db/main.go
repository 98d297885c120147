// Command go-db-server is the Go anchor for the db macro benchmark: the database-shaped server
// of bench/db_server.c written with goroutines, standard library only.
//
// Usage: go-db-server [-p PORT] [-d DIR]
// Listens on 127.0.0.1:PORT (0 picks a free port), prints "port N" on stdout, and runs until
// killed; the table file is created in DIR ($TMPDIR, else /tmp) and removed at once. The
// protocol and the table's bytes are bench/dbproto.h's. A goroutine per connection waits for a
// request with a 1 s read deadline (Go's poll with a timeout), reads it and runs it as a
// transaction that meets the others where the C server's threads meet: the transaction table
// lock, a page latch held across the page's ReadAt (pread) and a write's WriteAt (pwrite), the
// buffer pool's frames behind a sync.Mutex and sync.Cond, and, for a write, group commit with
// a log writer goroutine. Go has no raw futex for programs: the transaction table and the
// latches are sync.Mutex, whose slow path is the Go runtime's own futex-based sleep.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// The constants of bench/dbproto.h and bench/db_server.c.
const (
	msgSize     = 64
	rowSize     = 64
	hdrSize     = 17
	keyOff      = 12
	opOff       = 16
	opRead      = 'r'
	opWrite     = 'w'
	rows        = 65536
	pageSize    = 4096
	rowsPerPage = pageSize / rowSize
	nPages      = rows / rowsPerPage
	tableBytes  = rows * rowSize
	logBytes    = 1 << 20
	logBuf      = 65536
	logRec      = 32
	nLatch      = 64
	nFrames     = 8
	idleWait    = time.Second
)

func rowByte(key uint32, i int) byte {
	return byte(key*131 + uint32(i)*7 + key>>8)
}

var (
	table *os.File

	trxMu     sync.Mutex
	trxNextID uint64 // protected by trxMu
	trxActive int64  // protected by trxMu

	latches [nLatch]sync.Mutex

	poolMu    sync.Mutex
	poolFreed = sync.NewCond(&poolMu) // signalled when a frame goes back on the free list
	poolFree  [][]byte                // protected by poolMu

	logMu      sync.Mutex
	logWork    = sync.NewCond(&logMu) // signalled when a record is appended
	logFlushed = sync.NewCond(&logMu) // broadcast when the writer has written records
	logData    []byte                 // protected by logMu
	logAppend  uint64                 // protected by logMu: records appended so far
	logDurable uint64                 // protected by logMu: records written so far
)

func trxBegin() uint64 {
	trxMu.Lock()
	trxNextID++
	id := trxNextID
	trxActive++
	trxMu.Unlock()
	return id
}

func trxEnd() {
	trxMu.Lock()
	trxActive--
	trxMu.Unlock()
}

func frameGet() []byte {
	poolMu.Lock()
	for len(poolFree) == 0 {
		poolFreed.Wait()
	}
	f := poolFree[len(poolFree)-1]
	poolFree = poolFree[:len(poolFree)-1]
	poolMu.Unlock()
	return f
}

func framePut(f []byte) {
	poolMu.Lock()
	poolFree = append(poolFree, f)
	poolFreed.Signal()
	poolMu.Unlock()
}

// logCommit appends a commit record and waits until the log writer has written it.
func logCommit(id uint64, key uint32) {
	var rec [logRec]byte
	binary.LittleEndian.PutUint64(rec[0:], id)
	binary.LittleEndian.PutUint32(rec[8:], key)
	logMu.Lock()
	for len(logData)+logRec > logBuf {
		logFlushed.Wait()
	}
	logData = append(logData, rec[:]...)
	logAppend++
	mine := logAppend
	logWork.Signal()
	for logDurable < mine {
		logFlushed.Wait()
	}
	logMu.Unlock()
}

func logWriter() {
	out := make([]byte, logBuf)
	var pos int64
	logMu.Lock()
	for {
		for len(logData) == 0 {
			logWork.Wait()
		}
		n := copy(out, logData)
		upto := logAppend
		logData = logData[:0]
		logMu.Unlock()

		if pos+int64(n) > logBytes {
			pos = 0
		}
		if _, err := table.WriteAt(out[:n], tableBytes+pos); err != nil {
			fmt.Fprintln(os.Stderr, "go-db-server: log write:", err)
			os.Exit(1)
		}
		pos += int64(n)

		logMu.Lock()
		logDurable = upto
		logFlushed.Broadcast()
	}
}

// transact runs one request into resp; false when the request is malformed.
func transact(req, resp []byte) bool {
	key := binary.LittleEndian.Uint32(req[keyOff:])
	op := req[opOff]
	if key >= rows || (op != opRead && op != opWrite) {
		return false
	}
	page := key / rowsPerPage
	id := trxBegin()
	frame := frameGet()
	latch := &latches[page%nLatch]

	latch.Lock()
	if _, err := table.ReadAt(frame, int64(page)*pageSize); err != nil {
		fmt.Fprintln(os.Stderr, "go-db-server: read:", err)
		os.Exit(1)
	}
	row := frame[(key%rowsPerPage)*rowSize:][:rowSize]
	if op == opWrite {
		for i := range row {
			row[i] = rowByte(key, i)
		}
		if _, err := table.WriteAt(row, int64(key)*rowSize); err != nil {
			fmt.Fprintln(os.Stderr, "go-db-server: write:", err)
			os.Exit(1)
		}
	}
	copy(resp, req[:hdrSize])
	copy(resp[hdrSize:], row[hdrSize:])
	latch.Unlock()
	framePut(frame)
	if op == opWrite {
		logCommit(id, key)
	}
	trxEnd()
	return true
}

func serve(c net.Conn) {
	defer c.Close()
	req := make([]byte, msgSize)
	resp := make([]byte, msgSize)
	for {
		c.SetReadDeadline(time.Now().Add(idleWait))
		n, err := io.ReadAtLeast(c, req, 1)
		if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			continue // an idle keep-alive connection: wait again
		}
		if err != nil && n == 0 {
			return
		}
		c.SetReadDeadline(time.Time{})
		if _, err := io.ReadFull(c, req[n:]); err != nil {
			return
		}
		if !transact(req, resp) {
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

func createTable(dir string) {
	f, err := os.CreateTemp(dir, "go-db-server.")
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-db-server: cannot create a table file in %s: %v\n", dir, err)
		os.Exit(1)
	}
	os.Remove(f.Name())
	page := make([]byte, pageSize)
	for p := uint32(0); p < nPages; p++ {
		for r := 0; r < rowsPerPage; r++ {
			for i := 0; i < rowSize; i++ {
				page[r*rowSize+i] = rowByte(p*rowsPerPage+uint32(r), i)
			}
		}
		if _, err := f.WriteAt(page, int64(p)*pageSize); err != nil {
			fmt.Fprintln(os.Stderr, "go-db-server: writing the table:", err)
			os.Exit(1)
		}
	}
	if err := f.Truncate(tableBytes + logBytes); err != nil {
		fmt.Fprintln(os.Stderr, "go-db-server: truncate:", err)
		os.Exit(1)
	}
	table = f
}

func main() {
	port := flag.Int("p", 0, "port on 127.0.0.1 (0 = any free port)")
	dir := flag.String("d", os.TempDir(), "directory of the table file")
	flag.Parse()
	createTable(*dir)
	for i := 0; i < nFrames; i++ {
		poolFree = append(poolFree, make([]byte, pageSize))
	}
	logData = make([]byte, 0, logBuf)
	go logWriter()

	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-db-server:", err)
		os.Exit(1)
	}
	fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "go-db-server: accept:", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go serve(c)
	}
}
