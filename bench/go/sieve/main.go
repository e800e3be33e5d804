// Command sieve is the Go twin of gort's `sieve` workload
// (cli/workloads/sieve.cc): Go's concurrent prime sieve, bounded so that it
// ends (the generator stops at the primes-th prime and closes its channel;
// each filter closes its output when its input closes), checked against a
// sequential sieve; same flag and default, same `result: sieve N ms` line.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

// firstPrimes returns the first n primes by trial division (untimed).
func firstPrimes(n int64) []int64 {
	var primes []int64
	for v := int64(2); int64(len(primes)) < n; v++ {
		prime := true
		for _, p := range primes {
			if p*p > v {
				break
			}
			if v%p == 0 {
				prime = false
				break
			}
		}
		if prime {
			primes = append(primes, v)
		}
	}
	return primes
}

func main() {
	n := flag.Int64("primes", 2000, "primes to find (one filter goroutine each)")
	flag.Parse()
	if flag.NArg() != 0 || *n < 1 || *n > 1000000 {
		fmt.Fprintf(os.Stderr, "sieve: --primes must be an integer in [1, 1000000]\n")
		os.Exit(2)
	}
	want := firstPrimes(*n)
	limit := want[len(want)-1]
	got := make([]int64, 0, *n)
	start := time.Now()
	ch := make(chan int64)
	go func(dst chan int64) {
		for i := int64(2); i <= limit; i++ {
			dst <- i
		}
		close(dst)
	}(ch)
	for {
		p, ok := <-ch
		if !ok {
			break
		}
		got = append(got, p)
		next := make(chan int64)
		go func(src, dst chan int64, p int64) {
			for v := range src {
				if v%p != 0 {
					dst <- v
				}
			}
			close(dst)
		}(ch, next, p)
		ch = next
	}
	nanos := time.Since(start).Nanoseconds()
	if len(got) != len(want) {
		fmt.Fprintf(os.Stderr, "sieve: the primes differ from a sequential sieve\n")
		os.Exit(1)
	}
	for i := range got {
		if got[i] != want[i] {
			fmt.Fprintf(os.Stderr, "sieve: the primes differ from a sequential sieve\n")
			os.Exit(1)
		}
	}
	fmt.Printf("sieve: the first %d primes (up to %d) through a chain of %d filter goroutines in %.3f ms (GOMAXPROCS=%d)\n",
		*n, limit, *n, float64(nanos)/1e6, runtime.GOMAXPROCS(0))
	fmt.Printf("result: sieve %.2f ms\n", float64(nanos)/1e6)
}
