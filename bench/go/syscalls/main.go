// Command syscalls is the Go twin of gort's `syscalls` workload
// (cli/workloads/syscalls.cc): the same calls, in the same order, with the
// same flags and defaults, ending in the same `result: syscalls N ns/op`
// line.
//
// Go 1.19's syscall.Getpid is a raw SYSCALL instruction every time
// (syscall/zsyscall_linux_amd64.go calls rawSyscallNoError(SYS_GETPID));
// syscall.Write and syscall.Open go through syscall.Syscall, which tells
// the scheduler about the call (entersyscall/exitsyscall), as any Go
// program's I/O does.
package main

import (
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Procfs refuses to create anything in /proc/self, so opening this always
// fails with ENOENT. gort uses the same path (kMissingPath).
const missingPath = "/proc/self/gort-missing-file"

const writeSize = 64

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "syscalls: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	getpids := flag.Int64("getpids", 10000, "getpid calls")
	writes := flag.Int64("writes", 1000, "64-byte writes to /dev/null (opened once, closed at the end; 0 skips the open and close too)")
	missingOpens := flag.Int64("missing-opens", 100, "openat calls of a missing file, each failing ENOENT")
	flag.Parse()
	if flag.NArg() != 0 {
		fail("unexpected arguments: %v", flag.Args())
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"getpids", *getpids}, {"writes", *writes}, {"missing-opens", *missingOpens}} {
		if f.v < 0 {
			fmt.Fprintf(os.Stderr, "syscalls: --%s must be an integer >= 0, got \"%d\"\n", f.name, f.v)
			os.Exit(2)
		}
	}

	buf := make([]byte, writeSize)
	for i := range buf {
		buf[i] = 'x'
	}
	var calls int64
	start := time.Now()

	for i := int64(0); i < *getpids; i++ {
		if pid := syscall.Getpid(); pid <= 0 {
			fail("getpid returned %d", pid)
		}
	}
	calls += *getpids

	if *writes > 0 {
		fd, err := syscall.Open("/dev/null", syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			fail("openat(/dev/null): %v", err)
		}
		for i := int64(0); i < *writes; i++ {
			if n, err := syscall.Write(fd, buf); n != writeSize || err != nil {
				fail("write(/dev/null) returned %d (%v)", n, err)
			}
		}
		if err := syscall.Close(fd); err != nil {
			fail("close(/dev/null): %v", err)
		}
		calls += *writes + 2
	}

	for i := int64(0); i < *missingOpens; i++ {
		fd, err := syscall.Open(missingPath, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.ENOENT {
			if err == nil {
				syscall.Close(fd)
			}
			fail("openat(%s) returned %d (%v), want ENOENT", missingPath, fd, err)
		}
	}
	calls += *missingOpens

	nanos := time.Since(start).Nanoseconds()
	nsPerOp := 0.0
	if calls > 0 {
		nsPerOp = float64(nanos) / float64(calls)
	}
	fmt.Printf("syscalls: %d getpid, %d write of %d bytes to /dev/null, %d openat of a missing file (ENOENT): %d syscalls in %.3f ms\n",
		*getpids, *writes, writeSize, *missingOpens, calls, float64(nanos)/1e6)
	fmt.Printf("result: syscalls %.2f ns/op\n", nsPerOp)
}
