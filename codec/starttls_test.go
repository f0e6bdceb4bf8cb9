package codec_test

import (
	"crypto/tls"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/internal/testenv"
)

// starttlsEcho echoes lines and upgrades to TLS on "STARTTLS", after
// answering it with reply if that is set.
type starttlsEcho struct {
	tr    codec.FrameTransport
	cfg   *tls.Config
	reply string
}

func (s *starttlsEcho) ConnectionMade(t codec.FrameTransport) { s.tr = t }
func (s *starttlsEcho) ConnectionLost(error)                  {}
func (s *starttlsEcho) FrameReceived(f []byte) {
	if string(f) == "STARTTLS" {
		if s.reply != "" {
			_ = s.tr.SendFrame([]byte(s.reply))
		}
		if err := s.tr.StartTLS(s.cfg); err != nil {
			_ = s.tr.SendFrame([]byte("ERR " + err.Error()))
		}
		return
	}
	_ = s.tr.SendFrame(f)
}

// prefixConn writes prefix in front of the first Write: the STARTTLS command
// and the TLS ClientHello then reach the server in one read.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Write(p []byte) (int, error) {
	if c.prefix != nil {
		b := append(c.prefix, p...)
		c.prefix = nil
		_, err := c.Conn.Write(b)
		return len(p), err
	}
	return c.Conn.Write(p)
}

// The bytes received after the STARTTLS frame (the pipelined ClientHello)
// go to TLS, not to the line decoder.
func TestStartTLSHandsBufferedBytesToTLS(t *testing.T) {
	srvCfg, cliCfg := testenv.TLSConfigs(t)
	cl := servePair(t, codec.NewProtocol(codec.Line{}, &starttlsEcho{cfg: srvCfg}), nil)
	checkTLSEcho(t, tls.Client(&prefixConn{Conn: cl, prefix: []byte("STARTTLS\r\n")}, cliCfg))
}

// checkTLSEcho makes tc's handshake, then checks that a line sent over it
// comes back, and closes it.
func checkTLSEcho(t *testing.T, tc *tls.Conn) {
	t.Helper()
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	fw := codec.NewFrameWriter(tc, codec.Line{})
	fr := codec.NewFrameReader(tc, codec.Line{})
	if err := fw.WriteFrame([]byte("secret")); err != nil {
		t.Fatal(err)
	}
	if f, err := fr.ReadFrame(); err != nil || string(f) != "secret" {
		t.Fatalf("echo over TLS: %q, %v", f, err)
	}
	tc.Close()
}

// When the upgrade fails (here: a Transport that cannot take the bytes
// received after the STARTTLS frame), those bytes are put back and decoded
// as clear text, for the adapter and for the LineReceiver: nothing is lost.
func TestStartTLSFailurePutsBytesBack(t *testing.T) {
	const in = "STARTTLS\r\nafter\r\nlast\r\n"
	want := []string{"STARTTLS", "after", "last"}
	starttls := func(t *testing.T, tr weft.Transport) {
		if err := tr.StartTLS(&tls.Config{}); err == nil {
			t.Error("StartTLS with buffered bytes succeeded over a Transport that cannot take them")
		}
	}
	tests := []struct {
		name string
		run  func(t *testing.T) []string // feeds in, returns the frames
	}{
		{"FrameTransport", func(t *testing.T) []string {
			rec := &recorder{hook: func(r *recorder, f []byte) {
				if string(f) == "STARTTLS" {
					starttls(t, r.tr)
				}
			}}
			start(codec.Line{}, rec, &fakeTransport{}).DataReceived([]byte(in))
			return rec.frames
		}},
		{"LineReceiver", func(t *testing.T) []string {
			h := &lineRec{onLine: func(h *lineRec, l []byte) {
				if string(l) == "STARTTLS" {
					starttls(t, h.r.Transport())
				}
			}}
			r := codec.NewLineReceiver(h)
			r.ConnectionMade(&fakeTransport{})
			r.DataReceived([]byte(in))
			var lines []string
			for _, e := range h.events {
				lines = append(lines, strings.TrimPrefix(e, "line:"))
			}
			return lines
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.run(t); !slices.Equal(got, want) {
				t.Fatalf("frames %q, want %q", got, want)
			}
		})
	}
}
