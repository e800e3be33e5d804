// Command stream is the Go twin of gort's `stream` workload
// (cli/workloads/stream.cc): one goroutine writes 1 GiB over one loopback
// TCP connection in 64 KiB writes, another reads it in 64 KiB reads; same
// flags and defaults, same `result: stream N MB/s` line (MB = 10^6 bytes).
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"
)

func fail(err error) {
	fmt.Fprintf(os.Stderr, "stream: %v\n", err)
	os.Exit(1)
}

func main() {
	mib := flag.Int64("mib", 1024, "MiB to send")
	chunk := flag.Int64("chunk", 65536, "bytes per write and per read")
	flag.Parse()
	if flag.NArg() != 0 || *mib < 1 || *chunk < 1 {
		fmt.Fprintf(os.Stderr, "stream: --mib and --chunk must be integers >= 1\n")
		os.Exit(2)
	}
	total := *mib << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	received := make(chan int64)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			fail(err)
		}
		buf := make([]byte, *chunk)
		n := int64(0)
		for {
			m, err := c.Read(buf)
			n += int64(m)
			if err == io.EOF {
				break
			}
			if err != nil {
				fail(err)
			}
		}
		c.Close()
		received <- n
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fail(err)
	}
	buf := make([]byte, *chunk)
	for i := range buf {
		buf[i] = byte(i)
	}
	start := time.Now()
	for sent := int64(0); sent < total; {
		w := *chunk
		if total-sent < w {
			w = total - sent
		}
		if _, err := c.Write(buf[:w]); err != nil {
			fail(err)
		}
		sent += w
	}
	c.(*net.TCPConn).CloseWrite()
	n := <-received
	secs := time.Since(start).Seconds()
	c.Close()
	ln.Close()
	if n != total {
		fail(fmt.Errorf("received %d bytes of %d", n, total))
	}
	fmt.Printf("stream: %d MiB over one loopback TCP connection in %d-byte writes in %.3f s (GOMAXPROCS=%d)\n",
		*mib, *chunk, secs, runtime.GOMAXPROCS(0))
	fmt.Printf("result: stream %.2f MB/s\n", float64(n)/secs/1e6)
}
