package poetry_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/protocols/poetry"
)

// TestServerSteadyReaderKept: DefaultStallTimeout keeps a client that
// steadily reads faster than its documented bound, over a pipe, where no
// socket buffer holds part of the output. When this test was written the
// runtime resumed a paused Producer only once the output it was flushing
// had all gone, so a client had to take about 1.1 KB/s in slow mode with
// small chunks, 2.2 KB/s for a poem over 64 KiB sent at once; it now
// resumes at the low-water mark (TestResumeAtLowWater), which only lowers
// the rate a reader needs.
func TestServerSteadyReaderKept(t *testing.T) {
	big := bytes.Repeat([]byte("So much depends upon a red wheel barrow\n"), 512<<10/40)
	for _, tc := range []struct {
		s    *poetry.Server
		rate int // bytes a second
	}{
		{&poetry.Server{Poem: big}, 2300},
		{&poetry.Server{Poem: big, Chunk: 1000, Delay: 10 * time.Millisecond}, 1200},
	} {
		s, rate := tc.s, tc.rate
		t.Run(fmt.Sprintf("chunk %d rate %d", s.Chunk, rate), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, sc := net.Pipe()
				defer c.Close()
				done := make(chan error, 1)
				go func() { done <- weft.Serve(sc, s.BuildProtocol(nil), nil) }()
				var got []byte
				buf := make([]byte, rate)
				for {
					time.Sleep(time.Second)
					n, err := io.ReadFull(c, buf)
					got = append(got, buf[:n]...)
					if err != nil {
						break
					}
				}
				if !bytes.Equal(got, big) {
					t.Errorf("got %d bytes of the %d of the poem", len(got), len(big))
				}
				if err := <-done; err != nil {
					t.Errorf("Serve = %v after %d bytes", err, len(got))
				}
			})
		})
	}
}
