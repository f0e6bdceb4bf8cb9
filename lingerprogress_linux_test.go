package weft_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// TestLingerGoesOnWhileThePeerTakesOutput: a graceful close of a large reply
// to a slow reader lingers, once all of it is in the kernel, for as long as
// the reader keeps taking it (in spans of the linger's bound, here 200 ms),
// not only for the bound. So a byte the reader sends long after the bound
// (a request pipelined behind the reply, a QUIT) is drained by the linger
// and does not make the kernel reset the connection, which would destroy
// the end of the reply. Before, the linger ended at its bound: the late
// byte got the reset and the reader lost what the kernel still held
// (ECONNRESET after some 100s of KiB short). Both engines; the reader's
// pace is slow enough (about 2.5 MiB/s against a 2 MiB send buffer) that
// the linger needs several spans.
func TestLingerGoesOnWhileThePeerTakesOutput(t *testing.T) {
	defer weft.SetCloseLinger(200 * time.Millisecond)()
	const total = 8 << 20
	reply := bytes.Repeat([]byte("0123456789abcdef"), total/16)
	for _, tr := range transports {
		if tr.name == "pipe" {
			continue
		}
		t.Run(tr.name, func(t *testing.T) {
			s, c := tr.pair(t)
			sock := s
			if ec, ok := s.(engineConn); ok {
				sock = ec.TCPConn
			}
			if err := sock.(*net.TCPConn).SetWriteBuffer(1 << 20); err != nil { // 2 MiB in the kernel
				t.Fatal(err)
			}
			if err := c.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
				t.Fatal(err)
			}
			r := newRecorder(t)
			r.onMade = func(t weft.Transport) {
				t.Write(reply)
				t.LoseConnection()
			}
			done := serve(s, r, nil)
			got := make([]byte, 0, total)
			buf := make([]byte, 32<<10)
			sentLate := false
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			for {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("read after %d of %d bytes (late byte sent: %v): %v", len(got), total, sentLate, err)
				}
				if !sentLate && len(got) >= total-(256<<10) {
					// The server has long handed everything to the
					// kernel, and its linger's first span is over.
					if _, err := c.Write([]byte("Q")); err != nil {
						t.Fatal(err)
					}
					sentLate = true
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !bytes.Equal(got, reply) {
				t.Fatalf("got %d bytes, want the %d of the reply", len(got), total)
			}
			if err := r.waitLost(t); err != nil {
				t.Errorf("ConnectionLost(%v), want nil", err)
			}
			<-done
		})
	}
}
