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
