// Command once is the Go twin of gort's `once` workload
// (cli/workloads/once.cc): 10M fresh sync.Once values, each Do'ne twice
// (slow path, then fast); `result: once N ns/op`.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"time"
)

func main() {
	n := flag.Int64("ops", 10000000, "Once objects")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 {
		fmt.Fprintf(os.Stderr, "once: --ops must be an integer >= 1\n")
		os.Exit(2)
	}
	calls := int64(0)
	f := func() { calls++ }
	start := time.Now()
	for i := int64(0); i < *n; i++ {
		var once sync.Once
		once.Do(f)
		once.Do(f)
	}
	nanos := time.Since(start).Nanoseconds()
	if calls != *n {
		fmt.Fprintf(os.Stderr, "once: f ran twice\n")
		os.Exit(1)
	}
	fmt.Printf("once: %d Once objects, each called twice, in %.3f ms\n", *n, float64(nanos)/1e6)
	fmt.Printf("result: once %.2f ns/op\n", float64(nanos)/float64(*n))
}
