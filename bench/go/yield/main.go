// Command yield is the Go twin of gort's `yield` workload
// (cli/workloads/yield.cc): two goroutines on one P (GOMAXPROCS=1) each
// call runtime.Gosched N times; same flag and default, same
// `result: yield N ns/yield` line (elapsed time over 2N).
//
// Go 1.19's Gosched puts the goroutine on the global run queue under
// sched.lock (runtime/proc.go, goschedImpl) and then schedules.
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
	n := flag.Int64("yields", 1000000, "yields by each of the two goroutines")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 {
		fmt.Fprintf(os.Stderr, "yield: --yields must be an integer >= 1\n")
		os.Exit(2)
	}
	prev := runtime.GOMAXPROCS(1)
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(1)
	go func() {
		for i := int64(0); i < *n; i++ {
			runtime.Gosched()
		}
		wg.Done()
	}()
	for i := int64(0); i < *n; i++ {
		runtime.Gosched()
	}
	wg.Wait()
	nanos := time.Since(start).Nanoseconds()
	runtime.GOMAXPROCS(prev)
	fmt.Printf("yield: 2 goroutines x %d yields on GOMAXPROCS=1 in %.3f ms\n", *n, float64(nanos)/1e6)
	fmt.Printf("result: yield %.2f ns/yield\n", float64(nanos)/float64(2**n))
}
