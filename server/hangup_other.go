//go:build !linux

package server

import (
	"net"
	"syscall"
)

// peerHungUp is the portable fallback: without a non-consuming peek a queued
// client's hang-up is not detected; it is found when its turn comes (the
// Protocol then sees the end of the stream at once).
func peerHungUp(nc net.Conn) bool { return false }

// hangupWatch: no socket is watched here (see peerHungUp).
func hangupWatch(net.Conn) (syscall.RawConn, net.Conn) { return nil, nil }

// peekHungUp is never called here.
func peekHungUp(uintptr) bool { return false }
