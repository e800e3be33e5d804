// Command echo is the Go twin of gort's `echo` workload
// (cli/workloads/echo.cc): 100 TCP connections over loopback, each a
// client goroutine and a server goroutine playing ping-pong with a 64-byte
// message for 3 s; same flags and defaults, same `result: echo N msgs/s`
// line, where a message is one round trip (the client writes 64 bytes, the
// server reads them and writes them back, the client reads them).
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

func fail(err error) {
	fmt.Fprintf(os.Stderr, "echo: %v\n", err)
	os.Exit(1)
}

func main() {
	conns := flag.Int64("conns", 100, "connections, each a client and a server goroutine")
	size := flag.Int64("size", 64, "message bytes")
	ms := flag.Int64("ms", 3000, "how long the clients send, in ms")
	flag.Parse()
	if flag.NArg() != 0 || *conns < 1 || *size < 1 || *ms < 1 {
		fmt.Fprintf(os.Stderr, "echo: --conns, --size and --ms must be integers >= 1\n")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	var servers sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			servers.Add(1)
			go func() {
				defer servers.Done()
				defer c.Close()
				buf := make([]byte, *size)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						return // EOF: the client is done
					}
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	// Connect every client before the clock starts.
	cs := make([]net.Conn, *conns)
	for i := range cs {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			fail(err)
		}
		cs[i] = c
	}
	var stop atomic.Bool
	var total atomic.Int64
	var clients sync.WaitGroup
	start := time.Now()
	for _, c := range cs {
		clients.Add(1)
		go func(c net.Conn) {
			defer clients.Done()
			msg := make([]byte, *size)
			for i := range msg {
				msg[i] = byte(i)
			}
			buf := make([]byte, *size)
			n := int64(0)
			for !stop.Load() {
				if _, err := c.Write(msg); err != nil {
					fail(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					fail(err)
				}
				n++
			}
			total.Add(n)
			c.Close()
		}(c)
	}
	time.Sleep(time.Duration(*ms) * time.Millisecond)
	stop.Store(true)
	clients.Wait()
	secs := time.Since(start).Seconds()
	ln.Close()
	servers.Wait()
	rate := float64(total.Load()) / secs
	fmt.Printf("echo: %d connections x %d-byte ping-pong over loopback: %d round trips in %.3f s (GOMAXPROCS=%d)\n",
		*conns, *size, total.Load(), secs, runtime.GOMAXPROCS(0))
	fmt.Printf("result: echo %.2f msgs/s\n", rate)
}
