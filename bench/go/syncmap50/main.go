// Command syncmap50 is the Go twin of gort's `syncmap50` workload
// (cli/workloads/syncmap.cc): sync.Map with 50% loads and 50% stores; the body is
// shared with its sibling twin in internal/syncmapbench.
package main

import "gort.dev/bench/internal/syncmapbench"

func main() { syncmapbench.Main("syncmap50", 50) }
