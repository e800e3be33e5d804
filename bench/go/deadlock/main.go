// Command deadlock is the Go twin of gort's `deadlock` workload
// (cli/workloads/deadlock.cc): every goroutine blocks forever, and the
// runtime ends the program with
//
//	fatal error: all goroutines are asleep - deadlock!
//
// the goroutine dump, and exit status 2. Main (and --others more
// goroutines) block in WaitGroup.Wait, which parks on Go's runtime
// semaphore, so the dump says `[semacquire]` as gort's does. No result
// line: not a benchmark.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
)

func main() {
	others := flag.Int64("others", 0, "goroutines besides main that block forever too")
	flag.Parse()
	if flag.NArg() != 0 || *others < 0 || *others > 1000 {
		fmt.Fprintf(os.Stderr, "deadlock: --others must be an integer from 0 to 1000\n")
		os.Exit(2)
	}
	if *others > 0 {
		fmt.Printf("deadlock: the main goroutine and %d more now wait on a semaphore that nobody releases\n", *others)
	} else {
		fmt.Printf("deadlock: the main goroutine now waits on a semaphore that nobody releases\n")
	}
	var never sync.WaitGroup
	never.Add(1)
	for i := int64(0); i < *others; i++ {
		go func() { never.Wait() }()
	}
	never.Wait()
	fmt.Fprintf(os.Stderr, "deadlock: the deadlock was not detected\n")
	os.Exit(1)
}
