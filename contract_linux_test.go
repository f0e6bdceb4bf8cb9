//go:build linux && !386

package weft_test

import (
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/weftkit/weft"
)

// TestPauseReadingAfterRead: data read from the socket while a posted
// function runs, which then calls PauseReading, is not delivered until
// ResumeReading (on both engines; the runtime had read it before the pause).
func TestPauseReadingAfterRead(t *testing.T) {
	for _, tc := range transports {
		if tc.name == "pipe" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			s, c := tc.pair(t)
			probe := dupSocket(t, s)
			r := newRecorder(t)
			delivered := make(chan struct{}, 1)
			r.onData = func(weft.Transport, []byte) {
				select {
				case delivered <- struct{}{}:
				default:
				}
			}
			conn := weft.NewConn(s, r, engineOpts(s))
			done := make(chan error, 1)
			conn.Start(func(err error) { done <- err })
			tr := waitMade(t, r)
			in, release := make(chan struct{}), make(chan struct{})
			var releaseOnce sync.Once
			defer releaseOnce.Do(func() { close(release) }) // a failure must not hang the engine's Close
			// Post runs the function on the caller's goroutine when no
			// callback runs: post from another one, once ConnectionMade's
			// turn has ended (it would run the function on the worker).
			waitCallbacksIdle(t, conn)
			go conn.Post(func() {
				close(in)
				<-release
				tr.PauseReading()
			})
			<-in
			c.Write([]byte("read before the pause"))
			// The bytes reach the socket and the runtime reads them (the
			// queue empties); it then waits for the posted function to
			// deliver them.
			deadline := time.Now().Add(10 * time.Second)
			for bytesReceived(t, probe) < int64(len("read before the pause")) || inQueue(t, probe) != 0 {
				if time.Now().After(deadline) {
					t.Fatal("the runtime did not read")
				}
				time.Sleep(time.Millisecond)
			}
			releaseOnce.Do(func() { close(release) })
			// The runtime now holds bytes it read before the pause. A
			// correct runtime never delivers them while paused, whatever
			// the timing; the timer only bounds how long a broken one is
			// given to show itself.
			select {
			case <-delivered:
				t.Fatalf("delivered %q after PauseReading", r.received())
			case <-time.After(100 * time.Millisecond):
			}
			tr.ResumeReading()
			if got := r.waitReceived("read before the pause"); got != "read before the pause" {
				t.Fatalf("after ResumeReading got %q", got)
			}
			c.Close()
			r.waitLost(t)
			<-done
		})
	}
}

func init() { engineWrites = dataSegsOutCounter }

// dataSegsOutCounter counts the writes on s's socket by the data segments it
// sent (tcpi_data_segs_out): a write of a few bytes on a connection with
// TCP_NODELAY (package net's default) leaves as one segment, so one write
// call is one segment, and ten write calls are more than one.
func dataSegsOutCounter(t *testing.T, s net.Conn) func() int {
	probe := dupSocket(t, s)
	tcpInfo(t, probe, 160) // skips if the kernel's tcp_info is too old
	return func() int {
		info := tcpInfo(t, probe, 160)
		return int(*(*uint32)(unsafe.Pointer(&info[156]))) // tcpi_data_segs_out
	}
}

// engineOpts returns the Options that serve uses for s.
func engineOpts(s net.Conn) *weft.Options {
	if _, ok := s.(engineConn); ok {
		return &weft.Options{Engine: testEngine}
	}
	return nil
}

// dupSocket returns a duplicate descriptor of s's socket (the same open
// file: its flags are untouched), closed at the end of the test.
func dupSocket(t *testing.T, s net.Conn) int {
	t.Helper()
	rc, err := s.(interface {
		SyscallConn() (syscall.RawConn, error)
	}).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	var derr error
	rc.Control(func(s uintptr) { fd, derr = syscall.Dup(int(s)) })
	if derr != nil {
		t.Fatal(derr)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return fd
}

// inQueue returns the bytes waiting in the socket's receive queue.
func inQueue(t *testing.T, fd int) int {
	var n int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	return int(n)
}

// bytesReceived returns tcpi_bytes_received of the socket: the bytes that
// reached it (read or not).
func bytesReceived(t *testing.T, fd int) int64 {
	info := tcpInfo(t, fd, 136)
	return *(*int64)(unsafe.Pointer(&info[128])) // tcpi_bytes_received
}

// tcpInfo returns the socket's struct tcp_info, skipping the test if the
// kernel's is shorter than need bytes.
func tcpInfo(t *testing.T, fd int, need uint32) [232]byte {
	t.Helper()
	var info [232]byte
	size := uint32(len(info))
	if _, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, uintptr(fd), syscall.SOL_TCP, syscall.TCP_INFO,
		uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0); e != 0 {
		t.Fatal(e)
	}
	if size < need {
		t.Skipf("tcp_info is %d bytes, too short for the field at %d", size, need)
	}
	return info
}
