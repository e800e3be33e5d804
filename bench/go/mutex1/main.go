// Command mutex1 is the Go twin of gort's `mutex1` workload
// (cli/workloads/mutex1.cc): one goroutine, 10M uncontended
// lock/increment/unlock of a sync.Mutex; `result: mutex1 N ns/op`.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"time"
)

var counter int64

func main() {
	n := flag.Int64("ops", 10000000, "lock/unlock pairs")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 {
		fmt.Fprintf(os.Stderr, "mutex1: --ops must be an integer >= 1\n")
		os.Exit(2)
	}
	var mu sync.Mutex
	start := time.Now()
	for i := int64(0); i < *n; i++ {
		mu.Lock()
		counter++
		mu.Unlock()
	}
	nanos := time.Since(start).Nanoseconds()
	fmt.Printf("mutex1: %d uncontended lock/increment/unlock in %.3f ms\n", *n, float64(nanos)/1e6)
	fmt.Printf("result: mutex1 %.2f ns/op\n", float64(nanos)/float64(*n))
}
