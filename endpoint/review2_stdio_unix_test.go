//go:build unix

package endpoint

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// CloseWrite and Close of a pipeConn from other goroutines while a Write
// waits on a full pipe: the Write ends with an error, CloseWrite and Close
// return (Close without error whatever the order), the peer reads what was
// written and then the end of stream, and the connection still reads until
// Close.
func TestReview2PipeConnCloseWriteConcurrent(t *testing.T) {
	for _, order := range []string{"closewrite-first", "close-first", "together"} {
		t.Run(order, func(t *testing.T) {
			c, _, peerOut := newTestPipeConn(t)
			wrote := make(chan error, 1)
			go func() {
				_, err := c.Write(bytes.Repeat([]byte("x"), 1<<20)) // past the pipe's buffer: waits
				wrote <- err
			}()
			var wg sync.WaitGroup
			var cwErr, cErr error
			cw := func() { defer wg.Done(); cwErr = c.CloseWrite() }
			cl := func() { defer wg.Done(); cErr = c.Close() }
			wg.Add(2)
			switch order {
			case "closewrite-first":
				cw()
				cl()
			case "close-first":
				cl()
				cw()
			default:
				go cw()
				go cl()
			}
			wg.Wait()
			select {
			case err := <-wrote:
				if err == nil {
					t.Error("the waiting Write succeeded after CloseWrite")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the waiting Write did not end")
			}
			if cErr != nil {
				t.Errorf("Close = %v, want nil", cErr)
			}
			if order == "closewrite-first" && cwErr != nil {
				t.Errorf("CloseWrite = %v, want nil", cwErr)
			}
			if order == "close-first" && cwErr == nil {
				t.Error("CloseWrite after Close = nil, want an error")
			}
			peerOut.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadAll(peerOut); err != nil {
				t.Errorf("peer: %v, want the end of stream", err)
			}
		})
	}
}

// LoseWriteConnection on a stdio: pipe connection, then each of the other
// ends: the peer reads the output and the end of stream, ConnectionLost
// comes once, and Serve returns.
func TestReview2PipeConnLoseWriteThen(t *testing.T) {
	for _, then := range []string{"lose", "abort", "peerEOF", "lwc"} {
		t.Run(then, func(t *testing.T) {
			c, peerIn, peerOut := newTestPipeConn(t)
			lwc := make(chan error, 1)
			p := &reviewProto{made: func(tr weft.Transport) {
				tr.Write([]byte("hello"))
				lwc <- weft.LoseWriteConnection(tr)
			}}
			done := serveAsync(c, p, nil)
			if err := <-lwc; err != nil {
				t.Fatalf("LoseWriteConnection = %v", err)
			}
			peerOut.SetReadDeadline(time.Now().Add(10 * time.Second))
			if got, err := io.ReadAll(peerOut); err != nil || string(got) != "hello" {
				t.Fatalf("peer read %q, %v; want hello, then the end of stream", got, err)
			}
			switch then {
			case "lose":
				p.t.LoseConnection()
			case "abort":
				p.t.Abort()
			case "peerEOF":
				peerIn.Close()
			case "lwc":
				if err := weft.LoseWriteConnection(p.t); !errors.Is(err, weft.ErrClosed) {
					t.Errorf("second LoseWriteConnection = %v, want ErrClosed", err)
				}
				peerIn.Close()
			}
			err := waitServe(t, done)
			if then == "abort" {
				if !errors.Is(err, weft.ErrAborted) {
					t.Errorf("Serve = %v, want ErrAborted", err)
				}
			} else if err != nil {
				t.Errorf("Serve = %v, want nil", err)
			}
			if n := p.lost.Load(); n != 1 {
				t.Errorf("ConnectionLost called %d times", n)
			}
		})
	}
}
