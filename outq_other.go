//go:build !linux

package weft

// sendQueued reports whether the socket fd still holds output its peer has
// not acknowledged; only Linux can tell (SIOCOUTQ), so it reports false
// here, and a graceful close lingers only for unread input (see
// closeLinger).
func sendQueued(int) bool { return false }

// sendQueue is the number of bytes sendQueued sees: always 0 here.
func sendQueue(int) int { return 0 }
