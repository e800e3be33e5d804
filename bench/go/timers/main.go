// Command timers is the Go twin of gort's `timers` workload
// (cli/workloads/timers.cc): a million time.AfterFunc timers with random
// delays of 0-100 ms (the same xorshift64 sequence), every other one
// stopped right after it is made; ms until each has run or been stopped.
// Same flags and defaults, same `result: timers N ms` line.
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
	n := flag.Int64("timers", 1000000, "timers to make")
	maxMs := flag.Int64("max_delay_ms", 100, "delays are uniform in [0, this] ms")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 || *maxMs < 0 {
		fmt.Fprintf(os.Stderr, "timers: bad flags\n")
		os.Exit(2)
	}
	maxUs := uint64(*maxMs * 1000)
	var wg sync.WaitGroup
	x := uint64(88172645463325252)
	stopped := 0
	start := time.Now()
	for i := int64(0); i < *n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		d := time.Duration(x%(maxUs+1)) * time.Microsecond
		wg.Add(1)
		t := time.AfterFunc(d, func() { wg.Done() })
		if i&1 != 0 && t.Stop() {
			stopped++
			wg.Done()
		}
	}
	wg.Wait()
	nanos := time.Since(start).Nanoseconds()
	fmt.Printf("timers: %d AfterFunc timers (0-%d ms), %d stopped, done in %.1f ms (GOMAXPROCS=%d)\n",
		*n, *maxMs, stopped, float64(nanos)/1e6, runtime.GOMAXPROCS(0))
	fmt.Printf("result: timers %.2f ms\n", float64(nanos)/1e6)
}
