// Command spawn is the Go twin of gort's `spawn` workload
// (cli/workloads/spawn.cc): start N goroutines that only call wg.Done,
// then wg.Wait; same flag and default, same `result: spawn N ns/goroutine`
// line. It runs at the default GOMAXPROCS (the CPU count), as gort does.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

func main() {
	n := flag.Int64("goroutines", 1000000, "goroutines to start (each runs `done()` and exits)")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 {
		fmt.Fprintf(os.Stderr, "spawn: --goroutines must be an integer >= 1\n")
		os.Exit(2)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i := int64(0); i < *n; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
	}
	wg.Wait()
	nanos := time.Since(start).Nanoseconds()
	fmt.Printf("spawn: %d goroutines started and joined in %.3f ms (GOMAXPROCS=%d)\n",
		*n, float64(nanos)/1e6, runtime.GOMAXPROCS(0))
	fmt.Printf("result: spawn %.2f ns/goroutine\n", float64(nanos)/float64(*n))
}
