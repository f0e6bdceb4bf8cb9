package server

import (
	"math"
	"net"
	"time"
)

// Go's TCP keep-alive defaults (package net's, for a zero KeepAlive): the
// idle time before the first probe, the time between probes, and the
// probes left unanswered before the connection is dropped.
const (
	keepAliveIdle     = 15 * time.Second
	keepAliveInterval = 15 * time.Second
	keepAliveCount    = 9
)

// keepAliveConfig is the keep-alive setting for KeepAlive d (see
// Server.KeepAlive): on with idle time d (Go's default for zero), or off
// for a negative d.
func keepAliveConfig(d time.Duration) net.KeepAliveConfig {
	if d < 0 {
		return net.KeepAliveConfig{}
	}
	if d == 0 {
		d = keepAliveIdle
	}
	return net.KeepAliveConfig{Enable: true, Idle: d, Interval: keepAliveInterval, Count: keepAliveCount}
}

// setConnKeepAlive applies a non-zero Server.KeepAlive to a connection a
// listener's Accept returned, if it is TCP (under TLS or another wrapper
// that exposes it); zero leaves the listener's own setting. An error is
// ignored, as package net ignores it on Accept.
func (s *Server) setConnKeepAlive(nc net.Conn) {
	if s.KeepAlive == 0 {
		return
	}
	if tc, ok := rawConn(nc).(*net.TCPConn); ok {
		_ = tc.SetKeepAliveConfig(keepAliveConfig(s.KeepAlive))
	}
}

// seconds is d in whole seconds for a keep-alive socket option, rounded up
// (as package net rounds), at least 1 and at most what the option holds.
func seconds(d time.Duration) int32 {
	s := (d + time.Second - 1) / time.Second
	return int32(min(max(s, 1), math.MaxInt16))
}
