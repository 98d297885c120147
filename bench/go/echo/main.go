// Command go-echo-server is the Go anchor for the echo macro benchmark: the same server as
// bench/echo_server.c, one goroutine per connection, standard library only.
//
// Usage: go-echo-server [-p PORT]
// Listens on 127.0.0.1:PORT (0 picks a free port), prints "port N" on stdout, and echoes every
// connection with a 4096-byte buffer until end of file. It runs until killed.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	port := flag.Int("p", 0, "port on 127.0.0.1 (0 = any free port)")
	flag.Parse()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-echo-server:", err)
		os.Exit(1)
	}
	fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	for {
		c, err := ln.Accept()
		if err != nil {
			// Out of descriptors and the like: back off as net/http does, then go on.
			fmt.Fprintln(os.Stderr, "go-echo-server: accept:", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go serve(c)
	}
}
