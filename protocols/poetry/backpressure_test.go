package poetry_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/protocols/poetry"
)

// TestServerSlowBackpressure: in slow mode a client that does not read gets
// a bounded amount queued (about the write buffer's high-water mark, plus a
// chunk), however long it waits, and then receives the whole poem,
// byte-exact, when it reads. Before the fix the timer wrote on whatever the
// reader's pace: the whole poem piled up in the server's buffer (or, for a
// poem over MaxWriteBuffer, the client was dropped as a slow consumer).
func TestServerSlowBackpressure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		chunk int
	}{
		{"512 KiB small chunks", 512 << 10, 1000},
		{"2 MiB small chunks", 2 << 20, 1000},
		{"2 MiB chunk over the low-water mark", 2 << 20, weft.DefaultLowWater + 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				want := bytes.Repeat([]byte("I wandered lonely as a cloud\n"), tc.size/29)
				s := &poetry.Server{Poem: want, Chunk: tc.chunk, Delay: 10 * time.Millisecond}
				c, sc := net.Pipe()
				defer c.Close()
				done := make(chan error, 1)
				spy := &spyProto{Protocol: s.BuildProtocol(nil), made: make(chan weft.Transport, 1)}
				go func() { done <- weft.Serve(sc, spy, nil) }()
				tr := <-spy.made
				// Long enough for the whole poem to be due several times over,
				// short of the stall timeout.
				time.Sleep(time.Duration(len(want)/tc.chunk+1) * s.Delay * 2)
				synctest.Wait()
				most := weft.DefaultHighWater + tc.chunk
				if b := tr.Buffered(); b > most {
					t.Errorf("%d bytes queued for a client that does not read, want at most %d", b, most)
				}
				got, err := io.ReadAll(c)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("got %d bytes (%v), want the %d of the poem", len(got), err, len(want))
				}
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
			})
		})
	}
}

// TestServerNonReaderDropped: a client that never reads cannot hold its
// connection: once the output stays above the high-water mark (slow mode
// paused, a big poem's Gate held) or the last of the poem stays unsent for
// StallTimeout (default DefaultStallTimeout), the connection is aborted.
// Before the fix it was held until the runtime's IdleTimeout, forever
// without one (the default of "weft serve" and server.Server).
func TestServerNonReaderDropped(t *testing.T) {
	big := bytes.Repeat([]byte("So much depends upon a red wheel barrow\n"), 3<<20/40)
	small := []byte("Hope is the thing with feathers\nThat perches in the soul\n")
	for _, tc := range []struct {
		name string
		s    *poetry.Server
		by   time.Duration // the connection must be aborted by then
	}{
		{"fast small", &poetry.Server{Poem: small}, poetry.DefaultStallTimeout},
		{"fast big", &poetry.Server{Poem: big}, poetry.DefaultStallTimeout},
		{"slow big", &poetry.Server{Poem: big, Chunk: 1000, Delay: 10 * time.Millisecond}, poetry.DefaultStallTimeout + time.Second},
		{"slow small", &poetry.Server{Poem: small, Chunk: 10, Delay: time.Second}, poetry.DefaultStallTimeout + 6*time.Second},
		{"fast small set", &poetry.Server{Poem: small, StallTimeout: 5 * time.Second}, 5 * time.Second},
		{"slow big set", &poetry.Server{Poem: big, Chunk: 1000, Delay: 10 * time.Millisecond, StallTimeout: 5 * time.Second}, 6 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, sc := net.Pipe()
				defer c.Close()
				done := make(chan error, 1)
				start := time.Now()
				go func() { done <- weft.Serve(sc, tc.s.BuildProtocol(nil), nil) }()
				select {
				case err := <-done:
					if el := time.Since(start); el > tc.by {
						t.Errorf("aborted after %v, want by %v", el, tc.by)
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

// TestServerSlowReaderWithinStall: a client that stops reading for less
// than StallTimeout, then reads (more than the high-water mark), again and
// again, gets the whole poem (fast big and slow).
func TestServerSlowReaderWithinStall(t *testing.T) {
	big := bytes.Repeat([]byte("So much depends upon a red wheel barrow\n"), 3<<20/40)
	for _, s := range []*poetry.Server{{Poem: big}, {Poem: big, Chunk: 4000, Delay: time.Millisecond}} {
		synctest.Test(t, func(t *testing.T) {
			c, sc := net.Pipe()
			defer c.Close()
			done := make(chan error, 1)
			go func() { done <- weft.Serve(sc, s.BuildProtocol(nil), nil) }()
			var got []byte
			buf := make([]byte, 256<<10)
			for len(got) < len(big) {
				// A pause short of the stall timeout before each 256 KiB.
				time.Sleep(poetry.DefaultStallTimeout - time.Second)
				n, err := io.ReadFull(c, buf[:min(len(buf), len(big)-len(got))])
				if err != nil {
					t.Fatalf("after %d bytes: %v", len(got), err)
				}
				got = append(got, buf[:n]...)
			}
			if !bytes.Equal(got, big) {
				t.Errorf("got %d bytes, not the poem", len(got))
			}
			if err := <-done; err != nil {
				t.Errorf("Serve = %v", err)
			}
		})
	}
}

// TestServerStallTimeoutNegative: a negative StallTimeout is none: the
// client that does not read keeps its connection (here for 24 h).
func TestServerStallTimeoutNegative(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, sc := net.Pipe()
		done := make(chan error, 1)
		go func() {
			done <- weft.Serve(sc, (&poetry.Server{Poem: []byte("x"), StallTimeout: -1}).BuildProtocol(nil), nil)
		}()
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("closed with StallTimeout < 0: %v", err)
		default:
		}
		c.Close()
		<-done
	})
}
