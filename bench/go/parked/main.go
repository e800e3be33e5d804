// Command parked is the Go twin of gort's `parked` workload
// (cli/workloads/parked.cc): N goroutines parked at once; same flag and
// default, the same `rss: N B/goroutine` line and the same
// `result: parked N ms` line (the creation time: from the first `go` until
// the last goroutine has started and is about to park).
//
// The goroutines park in WaitGroup.Wait, which is Go's runtime semaphore
// (sync.runtime_Semacquire), as gort's park on sched::semacquire; one Done
// then wakes them all. Resident bytes come from /proc/self/statm, before
// and after, as in gort.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"time"
)

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	var size, resident int64
	if n, _ := fmt.Sscan(string(b), &size, &resident); n != 2 {
		return -1
	}
	return resident * int64(os.Getpagesize())
}

func main() {
	n := flag.Int64("goroutines", 1000000, "goroutines parked at once")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 {
		fmt.Fprintf(os.Stderr, "parked: --goroutines must be an integer >= 1\n")
		os.Exit(2)
	}
	var started, exited, release sync.WaitGroup
	release.Add(1)
	before := rssBytes()
	start := time.Now()
	for i := int64(0); i < *n; i++ {
		started.Add(1)
		exited.Add(1)
		go func() {
			started.Done()
			release.Wait()
			exited.Done()
		}()
	}
	started.Wait()
	nanos := time.Since(start).Nanoseconds()
	after := rssBytes()
	release.Done()
	exited.Wait()
	if before < 0 || after < 0 {
		fmt.Fprintf(os.Stderr, "parked: cannot read /proc/self/statm\n")
		os.Exit(1)
	}
	fmt.Printf("parked: %d goroutines parked at once, created in %.3f ms\n", *n, float64(nanos)/1e6)
	fmt.Printf("rss: %.0f B/goroutine\n", float64(after-before)/float64(*n))
	fmt.Printf("result: parked %.2f ms\n", float64(nanos)/1e6)
}
