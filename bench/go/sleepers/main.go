// Command sleepers is the Go twin of gort's `sleepers` workload
// (cli/workloads/sleepers.cc): 100k goroutines each calling time.Sleep(1 ms)
// ten times; ms until all are done. Same flags and defaults, same
// `result: sleepers N ms` line.
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
	n := flag.Int64("goroutines", 100000, "sleeping goroutines")
	sleeps := flag.Int64("sleeps", 10, "sleeps per goroutine")
	us := flag.Int64("sleep_us", 1000, "each sleep, in microseconds")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 || *sleeps < 1 || *us < 0 {
		fmt.Fprintf(os.Stderr, "sleepers: bad flags\n")
		os.Exit(2)
	}
	d := time.Duration(*us) * time.Microsecond
	var wg sync.WaitGroup
	start := time.Now()
	for i := int64(0); i < *n; i++ {
		wg.Add(1)
		go func() {
			for k := int64(0); k < *sleeps; k++ {
				time.Sleep(d)
			}
			wg.Done()
		}()
	}
	wg.Wait()
	nanos := time.Since(start).Nanoseconds()
	fmt.Printf("sleepers: %d goroutines x %d sleeps of %d us in %.1f ms (GOMAXPROCS=%d)\n",
		*n, *sleeps, *us, float64(nanos)/1e6, runtime.GOMAXPROCS(0))
	fmt.Printf("result: sleepers %.2f ms\n", float64(nanos)/1e6)
}
