// Command mutex is the Go twin of gort's `mutex` workload
// (cli/workloads/mutex.cc): 8 goroutines each lock one sync.Mutex,
// increment a shared counter and unlock, 1M times; same flags, same
// `result: mutex N ns/op` line.
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
	n := flag.Int64("ops", 1000000, "lock/unlock pairs per goroutine")
	goroutines := flag.Int64("goroutines", 8, "contending goroutines")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 || *goroutines < 1 {
		fmt.Fprintf(os.Stderr, "mutex: bad flags\n")
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	counter := int64(0)
	wg.Add(int(*goroutines))
	start := time.Now()
	for g := int64(0); g < *goroutines; g++ {
		go func() {
			for i := int64(0); i < *n; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	nanos := time.Since(start).Nanoseconds()
	if counter != *n**goroutines {
		fmt.Fprintf(os.Stderr, "mutex: lost increments\n")
		os.Exit(1)
	}
	fmt.Printf("mutex: %d goroutines x %d lock/increment/unlock in %.3f ms (GOMAXPROCS=%d)\n",
		*goroutines, *n, float64(nanos)/1e6, runtime.GOMAXPROCS(0))
	fmt.Printf("result: mutex %.2f ns/op\n", float64(nanos)/float64(*n**goroutines))
}
