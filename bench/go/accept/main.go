// Command accept is the Go twin of gort's `accept` workload
// (cli/workloads/accept.cc): 4 client goroutines dial a loopback TCP
// listener and close at once, 10000 connections in all, while one server
// goroutine accepts and closes each; same flags and defaults, same
// `result: accept N conns/s` line.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"time"
)

func fail(err error) {
	fmt.Fprintf(os.Stderr, "accept: %v\n", err)
	os.Exit(1)
}

func main() {
	conns := flag.Int64("conns", 10000, "connections to make and accept")
	dialers := flag.Int64("dialers", 4, "client goroutines dialling at once")
	flag.Parse()
	if flag.NArg() != 0 || *conns < 1 || *dialers < 1 {
		fmt.Fprintf(os.Stderr, "accept: --conns and --dialers must be integers >= 1\n")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	addr := ln.Addr().String()
	start := time.Now()
	accepted := make(chan int64)
	go func() {
		n := int64(0)
		for n < *conns {
			c, err := ln.Accept()
			if err != nil {
				fail(err)
			}
			c.Close()
			n++
		}
		accepted <- n
	}()
	var clients sync.WaitGroup
	for d := int64(0); d < *dialers; d++ {
		share := *conns / *dialers
		if d < *conns%*dialers {
			share++
		}
		clients.Add(1)
		go func(share int64) {
			defer clients.Done()
			for i := int64(0); i < share; i++ {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					fail(err)
				}
				c.Close()
			}
		}(share)
	}
	clients.Wait()
	n := <-accepted
	secs := time.Since(start).Seconds()
	ln.Close()
	fmt.Printf("accept: %d connections dialled by %d goroutines, accepted and closed in %.3f s (GOMAXPROCS=%d)\n",
		n, *dialers, secs, runtime.GOMAXPROCS(0))
	fmt.Printf("result: accept %.2f conns/s\n", float64(n)/secs)
}
