// Command pool is the Go twin of gort's `pool` workload
// (cli/workloads/pool.cc): 10M Get/Put pairs of 1 KiB buffers (*[]byte)
// through one sync.Pool with New, from 2 goroutines; each Get writes a
// byte; `result: pool N ns/op`.
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
	n := flag.Int64("ops", 10000000, "get/put pairs in all")
	goroutines := flag.Int64("goroutines", 2, "goroutines sharing the pool")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 || *goroutines < 1 {
		fmt.Fprintf(os.Stderr, "pool: bad flags\n")
		os.Exit(2)
	}
	var made int64
	pool := sync.Pool{New: func() any {
		atomic.AddInt64(&made, 1)
		b := make([]byte, 1024)
		return &b
	}}
	var wg sync.WaitGroup
	wg.Add(int(*goroutines))
	each := *n / *goroutines
	start := time.Now()
	for g := int64(0); g < *goroutines; g++ {
		go func() {
			for i := int64(0); i < each; i++ {
				b := pool.Get().(*[]byte)
				(*b)[i&1023] = byte(i)
				pool.Put(b)
			}
			wg.Done()
		}()
	}
	wg.Wait()
	nanos := time.Since(start).Nanoseconds()
	fmt.Printf("pool: %d get/put pairs of 1 KiB buffers from %d goroutines in %.3f ms (%d buffers made; GOMAXPROCS=%d)\n",
		*n, *goroutines, float64(nanos)/1e6, atomic.LoadInt64(&made), runtime.GOMAXPROCS(0))
	fmt.Printf("result: pool %.2f ns/op\n", float64(nanos)/float64(*n))
}
