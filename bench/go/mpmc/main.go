// Command mpmc is the Go twin of gort's `mpmc` workload
// (cli/workloads/mpmc.cc): producers send 0..items-1 split among them into
// one buffered channel, consumers range over it, the channel is closed when
// every producer is done (a goroutine receives one token per producer, as
// gort's does), and the consumers' sums are checked; same flags and
// defaults, same `result: mpmc N ns/item` line.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

func main() {
	n := flag.Int64("items", 4000000, "items sent in all")
	producers := flag.Int64("producers", 4, "producer goroutines")
	consumers := flag.Int64("consumers", 4, "consumer goroutines")
	capacity := flag.Int64("cap", 128, "channel capacity")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 || *producers < 1 || *producers > 10000 ||
		*consumers < 1 || *consumers > 10000 || *capacity < 0 || *capacity > 1<<24 {
		fmt.Fprintf(os.Stderr, "mpmc: bad flags\n")
		os.Exit(2)
	}
	data := make(chan int64, *capacity)
	produced := make(chan int, *producers)
	sums := make(chan int64, *consumers)
	start := time.Now()
	for p := int64(0); p < *producers; p++ {
		go func(p int64) {
			for i := p; i < *n; i += *producers {
				data <- i
			}
			produced <- 0
		}(p)
	}
	go func() {
		for p := int64(0); p < *producers; p++ {
			<-produced
		}
		close(data)
	}()
	for k := int64(0); k < *consumers; k++ {
		go func() {
			var s int64
			for v := range data {
				s += v
			}
			sums <- s
		}()
	}
	var sum int64
	for k := int64(0); k < *consumers; k++ {
		sum += <-sums
	}
	nanos := time.Since(start).Nanoseconds()
	if sum != *n*(*n-1)/2 {
		fmt.Fprintf(os.Stderr, "mpmc: sum %d != %d\n", sum, *n*(*n-1)/2)
		os.Exit(1)
	}
	fmt.Printf("mpmc: %d items, %d producers, %d consumers, one channel of capacity %d, in %.3f ms (GOMAXPROCS=%d)\n",
		*n, *producers, *consumers, *capacity, float64(nanos)/1e6, runtime.GOMAXPROCS(0))
	fmt.Printf("result: mpmc %.2f ns/item\n", float64(nanos)/float64(*n))
}
