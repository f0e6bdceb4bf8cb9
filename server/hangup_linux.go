package server

import (
	"net"
	"syscall"
)

// peerHungUp reports whether the client of a connection that is not being
// read closed its side, without consuming any byte: a non-blocking MSG_PEEK
// recv returning 0 means end of stream. Bytes still waiting (a client that
// sent data, then hung up) count as alive: they will be delivered.
func peerHungUp(nc net.Conn) bool {
	rc, _ := hangupWatch(nc)
	if rc == nil {
		return false
	}
	// Control, not Read: the peek does not block, and the connection's
	// own wait (waitWatching) may hold the read side meanwhile.
	var hungUp bool
	err := rc.Control(func(fd uintptr) { hungUp = peekHungUp(fd) })
	return hungUp || err != nil
}

// hangupWatch returns the socket under nc, and its RawConn, through which a
// queued client's hang-up is seen (peerHungUp, waitWatching), or nils when
// nc has no such socket.
func hangupWatch(nc net.Conn) (syscall.RawConn, net.Conn) {
	sock := rawConn(nc)
	sc, ok := sock.(syscall.Conn)
	if !ok {
		return nil, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, nil
	}
	return rc, sock
}

// peekHungUp is peerHungUp's look at descriptor fd: the end of stream with
// no byte before it, or an error (a reset, a keep-alive timeout).
func peekHungUp(fd uintptr) bool {
	var b [1]byte
	for {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch err {
		case nil:
			return n == 0
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		return true
	}
}
