// Command parkready is the Go twin of gort's `parkready` workload
// (cli/workloads/parkready.cc): a ping-pong between two goroutines, each
// parking until the other wakes it; same flag and default, same
// `result: parkready N ns/roundtrip` line.
//
// gort uses two runtime semaphores. Go exposes none, so this twin uses two
// unbuffered channels, the closest thing a Go program has: a send to a
// waiting receiver readies it (goready into the sender's runnext) and a
// receive with no sender parks (gopark on a sudog), so each round trip is
// two parks and two readies, as with the semaphores. sync.Mutex as a binary
// semaphore was rejected (it spins before parking and has a starvation
// mode), as were WaitGroup (not reusable while a Wait may be returning) and
// sync.Cond (a mutex round trip on each side besides the park).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

func main() {
	n := flag.Int64("rounds", 1000000, "round trips (each: two parks, two readies)")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 {
		fmt.Fprintf(os.Stderr, "parkready: --rounds must be an integer >= 1\n")
		os.Exit(2)
	}
	ping := make(chan struct{})
	pong := make(chan struct{})
	done := make(chan struct{})
	start := time.Now()
	go func() {
		for i := int64(0); i < *n; i++ {
			<-ping
			pong <- struct{}{}
		}
		close(done)
	}()
	for i := int64(0); i < *n; i++ {
		ping <- struct{}{}
		<-pong
	}
	nanos := time.Since(start).Nanoseconds()
	<-done
	fmt.Printf("parkready: %d round trips between 2 goroutines through 2 unbuffered channels in %.3f ms (GOMAXPROCS=%d)\n",
		*n, float64(nanos)/1e6, runtime.GOMAXPROCS(0))
	fmt.Printf("result: parkready %.2f ns/roundtrip\n", float64(nanos)/float64(*n))
}
