//go:build !windows

package server

import "syscall"

// peerResetErrnos are the errors of a connection the peer reset (or that
// is gone under a write): ReasonPeerReset.
var peerResetErrnos = []error{syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED}

// peerTimeoutErrnos are the errors of a connection whose peer stopped
// answering or became unreachable: ReasonPeerTimeout.
var peerTimeoutErrnos = []error{syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH}
