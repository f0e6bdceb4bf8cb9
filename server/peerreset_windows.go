package server

import "syscall"

// peerResetErrnos are the errors of a connection the peer reset (or that
// is gone under a write): ReasonPeerReset. Winsock reports WSAECONNRESET
// and WSAECONNABORTED, which syscall's ECONNRESET and ECONNABORTED (values
// it invents on Windows) do not match.
var peerResetErrnos = []error{
	syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED,
	syscall.WSAECONNRESET, syscall.WSAECONNABORTED,
}

// peerTimeoutErrnos are the errors of a connection whose peer stopped
// answering or became unreachable: ReasonPeerTimeout. Winsock's codes
// (WSAETIMEDOUT 10060, WSAEHOSTUNREACH 10065, WSAENETUNREACH 10051) have no
// names in package syscall.
var peerTimeoutErrnos = []error{
	syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH,
	syscall.Errno(10060), syscall.Errno(10065), syscall.Errno(10051),
}
