// Command bufchan is the Go twin of gort's `bufchan` workload
// (cli/workloads/bufchan.cc): one producer sends 0..items-1 into a
// buffered channel and closes it; main ranges over it and checks the sum;
// same flags and defaults, same `result: bufchan N ns/item` line.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

func main() {
	n := flag.Int64("items", 10000000, "items sent (0..items-1, summed by the consumer)")
	capacity := flag.Int64("cap", 1024, "channel capacity")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 || *capacity < 0 || *capacity > 1<<24 {
		fmt.Fprintf(os.Stderr, "bufchan: --items must be >= 1 and --cap in [0, 16777216]\n")
		os.Exit(2)
	}
	c := make(chan int64, *capacity)
	var sum int64
	start := time.Now()
	go func() {
		for i := int64(0); i < *n; i++ {
			c <- i
		}
		close(c)
	}()
	for v := range c {
		sum += v
	}
	nanos := time.Since(start).Nanoseconds()
	if sum != *n*(*n-1)/2 {
		fmt.Fprintf(os.Stderr, "bufchan: sum %d != %d\n", sum, *n*(*n-1)/2)
		os.Exit(1)
	}
	fmt.Printf("bufchan: %d items through a channel of capacity %d, 1 producer, 1 consumer, in %.3f ms (GOMAXPROCS=%d)\n",
		*n, *capacity, float64(nanos)/1e6, runtime.GOMAXPROCS(0))
	fmt.Printf("result: bufchan %.2f ns/item\n", float64(nanos)/float64(*n))
}
