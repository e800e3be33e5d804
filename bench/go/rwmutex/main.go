// Command rwmutex is the Go twin of gort's `rwmutex` workload
// (cli/workloads/rwmutex.cc): 4 goroutines x 1M operations on one
// sync.RWMutex, 1 in 100 a write; `result: rwmutex N ns/op`.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	n := flag.Int64("ops", 1000000, "operations per goroutine")
	goroutines := flag.Int64("goroutines", 4, "goroutines")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 || *goroutines < 1 {
		fmt.Fprintf(os.Stderr, "rwmutex: bad flags\n")
		os.Exit(2)
	}
	var rw sync.RWMutex
	var wg sync.WaitGroup
	var sum int64
	writes := int64(0)
	wg.Add(int(*goroutines))
	start := time.Now()
	for g := int64(0); g < *goroutines; g++ {
		go func() {
			local := int64(0)
			for i := int64(0); i < *n; i++ {
				if i%100 == 0 {
					rw.Lock()
					writes++
					rw.Unlock()
				} else {
					rw.RLock()
					local += writes
					rw.RUnlock()
				}
			}
			atomic.AddInt64(&sum, local)
			wg.Done()
		}()
	}
	wg.Wait()
	nanos := time.Since(start).Nanoseconds()
	fmt.Printf("rwmutex: %d goroutines x %d operations (1%% writes) in %.3f ms (GOMAXPROCS=%d; %d writes)\n",
		*goroutines, *n, float64(nanos)/1e6, runtime.GOMAXPROCS(0), writes)
	fmt.Printf("result: rwmutex %.2f ns/op\n", float64(nanos)/float64(*n**goroutines))
}
