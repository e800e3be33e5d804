// Command timerchurn is the Go twin of gort's `timerchurn` workload
// (cli/workloads/timerchurn.cc): 4 goroutines each owning 64 Timers pick
// one per operation (the same xorshift64 sequence) and reset it (1/2), stop
// it (1/4) or replace it with a new Timer (1/4, stopping the old one), with
// deadlines 1 ms-1 s away; ns per operation. Same flag and default, same
// `result: timerchurn N ns/op` line.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

const workers = 4
const timersPerWorker = 64

func main() {
	ops := flag.Int64("ops", 4000000, "operations in all")
	flag.Parse()
	if flag.NArg() != 0 || *ops < workers {
		fmt.Fprintf(os.Stderr, "timerchurn: bad flags\n")
		os.Exit(2)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			ts := make([]*time.Timer, timersPerWorker)
			for i := range ts {
				ts[i] = time.NewTimer(time.Hour)
			}
			x := uint64(88172645463325252) + uint64(w)
			for i := int64(0); i < *ops/workers; i++ {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				k := x % timersPerWorker
				d := time.Duration(1000+(x>>8)%999000) * time.Microsecond
				switch (x >> 32) % 4 {
				case 0, 1:
					ts[k].Reset(d)
				case 2:
					ts[k].Stop()
				default:
					ts[k].Stop()
					ts[k] = time.NewTimer(d)
				}
			}
			for _, t := range ts {
				t.Stop()
			}
			wg.Done()
		}(w)
	}
	wg.Wait()
	nanos := time.Since(start).Nanoseconds()
	fmt.Printf("timerchurn: %d reset/stop/new operations on %d timers by %d goroutines in %.1f ms (GOMAXPROCS=%d)\n",
		*ops, workers*timersPerWorker, workers, float64(nanos)/1e6, runtime.GOMAXPROCS(0))
	fmt.Printf("result: timerchurn %.2f ns/op\n", float64(nanos)/float64(*ops))
}
