// Command pingpong is the Go twin of gort's `pingpong` workload
// (cli/workloads/pingpong.cc): two goroutines pass a counter back and forth
// over two unbuffered channels; same flag and default, same
// `result: pingpong N ns/roundtrip` line. Default GOMAXPROCS, as gort.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

func main() {
	n := flag.Int64("rounds", 1000000, "round trips (each: two sends, two receives)")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 {
		fmt.Fprintf(os.Stderr, "pingpong: --rounds must be an integer >= 1\n")
		os.Exit(2)
	}
	ping := make(chan int64)
	pong := make(chan int64)
	start := time.Now()
	go func() {
		for i := int64(0); i < *n; i++ {
			pong <- (<-ping) + 1
		}
	}()
	for i := int64(0); i < *n; i++ {
		ping <- i
		if <-pong != i+1 {
			fmt.Fprintf(os.Stderr, "pingpong: a reply carried the wrong value\n")
			os.Exit(1)
		}
	}
	nanos := time.Since(start).Nanoseconds()
	fmt.Printf("pingpong: %d round trips between 2 goroutines over 2 unbuffered channels in %.3f ms (GOMAXPROCS=%d)\n",
		*n, float64(nanos)/1e6, runtime.GOMAXPROCS(0))
	fmt.Printf("result: pingpong %.2f ns/roundtrip\n", float64(nanos)/float64(*n))
}
