// Command wg is the Go twin of gort's `wg` workload (cli/workloads/wg.cc):
// 4 goroutines x 1M Add(1)/Done() pairs on one shared sync.WaitGroup, then
// a Wait; `result: wg N ns/op`.
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
	n := flag.Int64("ops", 1000000, "add/done pairs per goroutine")
	goroutines := flag.Int64("goroutines", 4, "goroutines")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 || *goroutines < 1 {
		fmt.Fprintf(os.Stderr, "wg: bad flags\n")
		os.Exit(2)
	}
	var shared, finished sync.WaitGroup
	shared.Add(1)
	finished.Add(int(*goroutines))
	start := time.Now()
	for g := int64(0); g < *goroutines; g++ {
		go func() {
			for i := int64(0); i < *n; i++ {
				shared.Add(1)
				shared.Done()
			}
			finished.Done()
		}()
	}
	finished.Wait()
	shared.Done()
	shared.Wait()
	nanos := time.Since(start).Nanoseconds()
	fmt.Printf("wg: %d goroutines x %d add/done pairs in %.3f ms (GOMAXPROCS=%d)\n",
		*goroutines, *n, float64(nanos)/1e6, runtime.GOMAXPROCS(0))
	fmt.Printf("result: wg %.2f ns/op\n", float64(nanos)/float64(*n**goroutines))
}
