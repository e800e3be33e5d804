// Command select4 is the Go twin of gort's `select4` workload
// (cli/workloads/select4.cc): 4 producers, each with its own buffered
// channel, send their share of 0..selects-1; main receives every item with
// a 4-case select statement and checks the sum; same flags and defaults,
// same `result: select4 N ns/select` line.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

func main() {
	n := flag.Int64("selects", 4000000, "selects (= items received)")
	capacity := flag.Int64("cap", 128, "capacity of each channel")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 || *capacity < 0 || *capacity > 1<<24 {
		fmt.Fprintf(os.Stderr, "select4: --selects must be >= 1 and --cap in [0, 16777216]\n")
		os.Exit(2)
	}
	var c [4]chan int64
	for k := range c {
		c[k] = make(chan int64, *capacity)
	}
	start := time.Now()
	for k := int64(0); k < 4; k++ {
		go func(ch chan int64, k int64) {
			for i := k; i < *n; i += 4 {
				ch <- i
			}
		}(c[k], k)
	}
	var sum int64
	for i := int64(0); i < *n; i++ {
		select {
		case v := <-c[0]:
			sum += v
		case v := <-c[1]:
			sum += v
		case v := <-c[2]:
			sum += v
		case v := <-c[3]:
			sum += v
		}
	}
	nanos := time.Since(start).Nanoseconds()
	if sum != *n*(*n-1)/2 {
		fmt.Fprintf(os.Stderr, "select4: sum %d != %d\n", sum, *n*(*n-1)/2)
		os.Exit(1)
	}
	fmt.Printf("select4: %d selects over 4 channels of capacity %d, each fed by its own producer, in %.3f ms (GOMAXPROCS=%d)\n",
		*n, *capacity, float64(nanos)/1e6, runtime.GOMAXPROCS(0))
	fmt.Printf("result: select4 %.2f ns/select\n", float64(nanos)/float64(*n))
}
