package server

import (
	"io"
	"net"
	"runtime"
	"testing"
)

// BenchmarkConnectEcho measures the server's per-connection cost: accept,
// admission (with MaxConns and MaxConnsPerPeer on), one echo, close.
func BenchmarkConnectEcho(b *testing.B) {
	s := &Server{Factory: echoFactory(), MaxConns: 1 << 20, Overflow: QueueFIFO, MaxConnsPerPeer: 1 << 20}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	defer func() { s.Close(); <-done }()
	msg := []byte("ping")
	buf := make([]byte, len(msg))
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		c.Write(msg)
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkBroadcast measures Broadcast of 64 bytes to 100 connections
// whose clients read everything.
func BenchmarkBroadcast(b *testing.B) {
	s := &Server{Factory: echoFactory()}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	defer func() { s.Close(); <-done }()
	const n = 100
	for range n {
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		go io.Copy(io.Discard, c)
	}
	for s.Len() < n {
		runtimeGosched()
	}
	msg := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		if got := s.Broadcast(msg); got != n {
			b.Fatalf("broadcast reached %d of %d", got, n)
		}
	}
}

func runtimeGosched() { runtime.Gosched() }
