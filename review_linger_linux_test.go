package weft

import (
	"syscall"
	"testing"
	"time"
)

// The readiness engine's drain of a lingering close stops once
// closeLingerBytes came in all, not in one turn: a peer that sends in
// bursts, each drained in a turn of its own, is held to the same 1 MiB as
// on the goroutine engine (lingerClose), not to the 2 s alone.
func TestReviewLingerDrainFDBytesBound(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	c := &Conn{fd: int32(fds[0])}
	c.ext().lingerEnd = time.Now().Add(time.Hour).UnixNano()
	chunk := make([]byte, 32<<10)
	sent := 0
	for sent <= 2*closeLingerBytes {
		if _, err := syscall.Write(fds[1], chunk); err != nil {
			t.Fatal(err)
		}
		sent += len(chunk)
		if c.drainFD() {
			if sent < closeLingerBytes {
				t.Fatalf("linger ended after %d bytes, before closeLingerBytes", sent)
			}
			return
		}
	}
	t.Fatalf("linger not over after %d bytes in bursts (closeLingerBytes %d)", sent, closeLingerBytes)
}
