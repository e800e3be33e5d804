// Command syncmap is the Go twin of gort's `syncmap` workload
// (cli/workloads/syncmap.cc): sync.Map with 99% loads and 1% stores; the body is
// shared with its sibling twin in internal/syncmapbench.
package main

import "gort.dev/bench/internal/syncmapbench"

func main() { syncmapbench.Main("syncmap", 1) }
