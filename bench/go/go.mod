// The Go twins of gort's workloads: one package main per workload, built by
// `gort bench --vs-go` with the machine's Go 1.19. No dependencies.
module gort.dev/bench

go 1.19
