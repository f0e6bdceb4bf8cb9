package wire_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/protocols/wire"
)

// TestOneShotNonReaderClosed: a one-shot reply (QOTD, daytime, time) that
// the client does not take (a net.Pipe holds nothing: it stands for a reply
// larger than the socket buffers) is given CloseTimeout (default
// DefaultCloseTimeout) to go out; then the connection is aborted, so a
// client that never reads cannot hold a descriptor and the reply. Before the
// fix the connection was held until the runtime's IdleTimeout, forever
// without one (the default of "weft serve" and server.Server).
func TestOneShotNonReaderClosed(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    weft.Factory
		want time.Duration
	}{
		{"qotd", &wire.QOTD{Quotes: []string{strings.Repeat("q", 4<<20)}}, wire.DefaultCloseTimeout},
		{"qotd set", &wire.QOTD{CloseTimeout: 5 * time.Second}, 5 * time.Second},
		{"daytime", wire.Daytime{}, wire.DefaultCloseTimeout},
		{"daytime set", wire.Daytime{CloseTimeout: time.Second}, time.Second},
		{"time", wire.Time{}, wire.DefaultCloseTimeout},
		{"time set", wire.Time{CloseTimeout: 2 * time.Second}, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, s := net.Pipe()
				defer c.Close()
				done := make(chan error, 1)
				start := time.Now()
				go func() { done <- weft.Serve(s, tc.f.BuildProtocol(c.LocalAddr()), nil) }()
				select {
				case err := <-done:
					if el := time.Since(start); el != tc.want {
						t.Errorf("closed after %v, want %v", el, tc.want)
					}
					if !errors.Is(err, weft.ErrAborted) {
						t.Errorf("Serve = %v, want ErrAborted", err)
					}
				case <-time.After(24 * time.Hour):
					t.Fatal("a client that does not read still holds its connection after 24 h")
				}
			})
		})
	}
}

// TestOneShotSlowReader: a client that reads its reply late, within
// CloseTimeout, gets it whole.
func TestOneShotSlowReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		quote := strings.Repeat("q", 1<<20)
		c, s := net.Pipe()
		defer c.Close()
		done := make(chan error, 1)
		go func() { done <- weft.Serve(s, (&wire.QOTD{Quotes: []string{quote}}).BuildProtocol(nil), nil) }()
		time.Sleep(wire.DefaultCloseTimeout - time.Second)
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, []byte(quote+"\r\n")) {
			t.Errorf("got %d bytes (%v), want %d", len(got), err, len(quote)+2)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve = %v", err)
		}
	})
}

// TestOneShotCloseTimeoutNegative: a negative CloseTimeout is none.
func TestOneShotCloseTimeoutNegative(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- weft.Serve(s, wire.Time{CloseTimeout: -1}.BuildProtocol(nil), nil) }()
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("closed with CloseTimeout < 0: %v", err)
		default:
		}
		c.Close()
		<-done
	})
}
