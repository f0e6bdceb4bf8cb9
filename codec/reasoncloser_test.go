package codec_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

var errBye = errors.New("test: bye")

// byeFrames closes with errBye on its first frame, through its
// FrameTransport.
type byeFrames struct {
	t    codec.FrameTransport
	lost chan error
}

func (h *byeFrames) ConnectionMade(t codec.FrameTransport) { h.t = t }
func (h *byeFrames) FrameReceived([]byte) {
	h.t.SendFrame([]byte("bye"))
	weft.LoseConnectionWithReason(h.t, errBye)
}
func (h *byeFrames) ConnectionLost(err error) { h.lost <- err }

// byeLines does the same through a LineReceiver's transport.
type byeLines struct {
	r    *codec.LineReceiver
	lost chan error
}

func (h *byeLines) ConnectionMade(r *codec.LineReceiver) { h.r = r }
func (h *byeLines) LineReceived([]byte) {
	h.r.SendLine([]byte("bye"))
	weft.LoseConnectionWithReason(h.r.Transport(), errBye)
}
func (h *byeLines) ConnectionLost(err error) { h.lost <- err }

// TestLoseConnectionWithReasonThroughCodec: weft.LoseConnectionWithReason
// on a codec adapter's Transport (a FrameTransport, a LineReceiver's)
// passes the reason on: ConnectionLost and Serve get it, after the output
// written before it is sent. The adapters are weft.ReasonClosers; before,
// the reason was dropped and both got nil.
func TestLoseConnectionWithReasonThroughCodec(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(lost chan error) weft.Protocol
	}{
		{"FrameTransport", func(lost chan error) weft.Protocol { return codec.NewProtocol(codec.Line{}, &byeFrames{lost: lost}) }},
		{"LineReceiver", func(lost chan error) weft.Protocol { return codec.NewLineReceiver(&byeLines{lost: lost}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer b.Close()
			lost := make(chan error, 1)
			p := tc.make(lost)
			served := make(chan error, 1)
			go func() { served <- weft.Serve(a, p, nil) }()
			b.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := b.Write([]byte("hi\r\n")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 5)
			n, _ := b.Read(buf)
			if got := string(buf[:n]); got != "bye\r\n" {
				t.Errorf("the peer read %q, want \"bye\\r\\n\"", got)
			}
			if err := <-lost; !errors.Is(err, errBye) {
				t.Errorf("ConnectionLost(%v), want errBye", err)
			}
			if err := <-served; !errors.Is(err, errBye) {
				t.Errorf("Serve = %v, want errBye", err)
			}
		})
	}
}
