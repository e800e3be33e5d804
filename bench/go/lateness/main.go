// Command lateness is the Go twin of gort's `lateness` workload
// (cli/workloads/lateness.cc): 10k goroutines each time.Sleep a random
// 1-100 ms (the same xorshift64 sequence) once; the p99 of how late they
// wake, in µs. Same flag and default, same `result: lateness N us` line.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"
)

func main() {
	n := flag.Int64("timers", 10000, "sleeping goroutines (one sleep each)")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 {
		fmt.Fprintf(os.Stderr, "lateness: bad flags\n")
		os.Exit(2)
	}
	late := make([]int64, *n)
	var wg sync.WaitGroup
	x := uint64(88172645463325252)
	for i := int64(0); i < *n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		dUs := int64(1000 + x%99001)
		wg.Add(1)
		go func(i, dUs int64) {
			start := time.Now()
			time.Sleep(time.Duration(dUs) * time.Microsecond)
			late[i] = time.Since(start).Nanoseconds() - dUs*1000
			wg.Done()
		}(i, dUs)
	}
	wg.Wait()
	sort.Slice(late, func(a, b int) bool { return late[a] < late[b] })
	p50 := float64(late[len(late)/2]) / 1e3
	i99 := len(late) * 99 / 100
	if i99 > len(late)-1 {
		i99 = len(late) - 1
	}
	p99 := float64(late[i99]) / 1e3
	fmt.Printf("lateness: %d sleeps of 1-100 ms woke late by p50 %.1f us, p99 %.1f us, max %.1f us (GOMAXPROCS=%d)\n",
		*n, p50, p99, float64(late[len(late)-1])/1e3, runtime.GOMAXPROCS(0))
	fmt.Printf("result: lateness %.2f us\n", p99)
}
