// Package syncmapbench is the body of the Go twins of gort's `syncmap` and
// `syncmap50` workloads (cli/workloads/syncmap.cc): 4 goroutines x 2M
// operations on one sync.Map preloaded with 1000 int keys, storePercent%
// stores and the rest loads, keys from a per-goroutine xorshift generator;
// prints `result: NAME N ns/op`.
package syncmapbench

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Main runs the workload as command `name` with the given share of stores.
func Main(name string, storePercent int64) {
	n := flag.Int64("ops", 2000000, "operations per goroutine")
	goroutines := flag.Int64("goroutines", 4, "goroutines")
	keys := flag.Int64("keys", 1000, "distinct keys, all preloaded")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 || *goroutines < 1 || *keys < 1 {
		fmt.Fprintf(os.Stderr, "%s: bad flags\n", name)
		os.Exit(2)
	}
	var m sync.Map
	for k := int64(0); k < *keys; k++ {
		m.Store(k, k)
	}
	var wg sync.WaitGroup
	var hits int64
	wg.Add(int(*goroutines))
	start := time.Now()
	for g := int64(0); g < *goroutines; g++ {
		go func(g int64) {
			x := uint64(0x9e3779b97f4a7c15) * uint64(g+1)
			found := int64(0)
			for i := int64(0); i < *n; i++ {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				key := int64(x % uint64(*keys))
				if int64((x>>32)%100) < storePercent {
					m.Store(key, i)
				} else if _, ok := m.Load(key); ok {
					found++
				}
			}
			atomic.AddInt64(&hits, found)
			wg.Done()
		}(g)
	}
	wg.Wait()
	nanos := time.Since(start).Nanoseconds()
	fmt.Printf("%s: %d goroutines x %d operations (%d%% stores) over %d keys in %.3f ms (%d hits; GOMAXPROCS=%d)\n",
		name, *goroutines, *n, storePercent, *keys, float64(nanos)/1e6, atomic.LoadInt64(&hits), runtime.GOMAXPROCS(0))
	fmt.Printf("result: %s %.2f ns/op\n", name, float64(nanos)/float64(*n**goroutines))
}
