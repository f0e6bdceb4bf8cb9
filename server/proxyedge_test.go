package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/weftkit/weft"
)

// proxyV2Raw builds a v2 header by hand: command (0x20 LOCAL, 0x21 PROXY),
// family byte, the length field as given, then body (which may be shorter
// or longer than length says).
func proxyV2Raw(cmd, fam byte, length uint16, body []byte) []byte {
	b := append([]byte(nil), proxyV2Sig...)
	b = append(b, cmd, fam)
	b = binary.BigEndian.AppendUint16(b, length)
	return append(b, body...)
}

// v4Block is a TCP4 address block: src 203.0.113.7:4242, dst 192.0.2.1:80.
func v4Block() []byte {
	b := []byte{203, 0, 113, 7, 192, 0, 2, 1}
	b = binary.BigEndian.AppendUint16(b, 4242)
	return binary.BigEndian.AppendUint16(b, 80)
}

// writeDrip writes p one byte per Write (on a net.Pipe each is one read on
// the server: the header split across as many segments as it has bytes),
// stopping at the first error (the server closed: the reader sees why).
func writeDrip(_ *testing.T, c net.Conn, p []byte) {
	for i := range p {
		if _, err := c.Write(p[i : i+1]); err != nil {
			return
		}
	}
}

// closedReasons returns the number of ended connections and the reasons
// counted.
func closedReasons(s *Server) (int64, map[string]int64) {
	snap := s.Snapshot()
	var n int64
	got := map[string]int64{}
	for r, k := range snap.Closed {
		n += k
		if k > 0 {
			got[r] = k
		}
	}
	return n, got
}

// TestProxyV2Dripped: a v2 header from a trusted source that arrives one
// byte per segment, address block and TLVs included, is read whole within
// HandshakeTimeout; the Protocol sees the header's source and then every
// byte sent after it, in order.
func TestProxyV2Dripped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{Factory: factoryOf(func() *whoami { return &whoami{} }), HandshakeTimeout: 3 * time.Second}
		l := serveTrustedPipe(t, s)
		c := l.Dial()
		defer c.Close()
		tlv := []byte{0xEE, 0, 5, 'h', 'e', 'l', 'l', 'o'} // an unknown TLV, ignored
		body := append(v4Block(), tlv...)
		go writeDrip(t, c, append(proxyV2Raw(0x21, 0x11, uint16(len(body)), body), "after\n"...))
		want := "you are 203.0.113.7:4242\nafter\n"
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	})
}

// TestProxyV2LengthPastData: a trusted source whose v2 length field points
// past what it sends is closed without a byte when HandshakeTimeout ends
// (reason handshake timeout; one that half-closes instead is closed at once,
// see TestProxyHeaderThenHalfClose); a length over go-proxyproto's
// 4096-byte limit is refused at once.
func TestProxyV2LengthPastData(t *testing.T) {
	for _, tc := range []struct {
		name   string
		length uint16
		reason string
		after  time.Duration
	}{
		{"stall", 4000, "handshake timeout", 3 * time.Second},
		{"over-limit", 65535, "handshake failed", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &Server{Factory: echoFactory(), HandshakeTimeout: 3 * time.Second}
				l := serveTrustedPipe(t, s)
				c := l.Dial()
				defer c.Close()
				start := time.Now()
				if _, err := c.Write(proxyV2Raw(0x21, 0x11, tc.length, v4Block())); err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(c)
				if len(b) != 0 {
					t.Fatalf("got %q, want no byte", b)
				}
				if d := time.Since(start); d != tc.after {
					t.Errorf("closed after %v, want %v", d, tc.after)
				}
				synctest.Wait()
				if n, got := closedReasons(s); n != 1 || got[tc.reason] != 1 {
					t.Errorf("closed %v, want one %q", got, tc.reason)
				}
				if snap := s.Snapshot(); snap.Handshaking != 0 || snap.Active != 0 {
					t.Errorf("gauges after: handshaking %d, active %d", snap.Handshaking, snap.Active)
				}
			})
		})
	}
}

// TestProxyV1NoCRLF: a v1 line that never ends is refused once it passes
// the 107 bytes a v1 header may have, without waiting for HandshakeTimeout
// and without reading on.
func TestProxyV1NoCRLF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{Factory: echoFactory(), HandshakeTimeout: 3 * time.Second}
		l := serveTrustedPipe(t, s)
		c := l.Dial()
		defer c.Close()
		start := time.Now()
		go c.Write(append([]byte("PROXY TCP4 "), bytes.Repeat([]byte("9"), 300)...))
		b, _ := io.ReadAll(c)
		if len(b) != 0 || time.Since(start) != 0 {
			t.Fatalf("got %q after %v, want no byte at once", b, time.Since(start))
		}
		synctest.Wait()
		if n, got := closedReasons(s); n != 1 || got["handshake failed"] != 1 {
			t.Errorf("closed %v, want one handshake failed", got)
		}
	})
}

// TestProxyLocalAndFamilies: a LOCAL command (with or without an address
// block) and a PROXY v1 UNKNOWN keep the socket's address; data after them
// is delivered; so does a v2 PROXY with AF_UNSPEC (the v2 form of v1's
// UNKNOWN: the spec lets the receiver use the real endpoints, and
// docs/operations.md says it does), its TLVs skipped. A v2 PROXY with an
// AF_UNIX block gives the Protocol that unix address, and is no IP peer
// (MaxConnsPerPeer does not count it). An undefined family byte, or a
// length over 4096, is refused.
func TestProxyLocalAndFamilies(t *testing.T) {
	unixBlock := make([]byte, 216)
	copy(unixBlock, "/run/client.sock")
	copy(unixBlock[108:], "/run/server.sock")
	for _, tc := range []struct {
		name   string
		header []byte
		want   string // "" means refused
	}{
		{"local-empty", proxyV2Raw(0x20, 0x00, 0, nil), "you are 127.0.0.1:1234\n"},
		{"local-v4", proxyV2Raw(0x20, 0x11, 12, v4Block()), "you are 127.0.0.1:1234\n"},
		{"local-odd-length", proxyV2Raw(0x20, 0x11, 3, []byte{1, 2, 3}), "you are 127.0.0.1:1234\n"},
		{"v1-unknown", []byte("PROXY UNKNOWN\r\n"), "you are 127.0.0.1:1234\n"},
		{"v2-unix", proxyV2Raw(0x21, 0x31, 216, unixBlock), "you are /run/client.sock\n"},
		{"v2-unspec-proxy", proxyV2Raw(0x21, 0x00, 0, nil), "you are 127.0.0.1:1234\n"},
		{"v2-unspec-proxy-tlvs", proxyV2Raw(0x21, 0x00, 8, []byte{0xEE, 0, 5, 'h', 'e', 'l', 'l', 'o'}), "you are 127.0.0.1:1234\n"},
		{"v2-unspec-proxy-over-limit", proxyV2Raw(0x21, 0x00, 5000, nil), ""},
		{"v2-bad-family", proxyV2Raw(0x21, 0x13, 12, v4Block()), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &Server{Factory: factoryOf(func() *whoami { return &whoami{} }), HandshakeTimeout: 3 * time.Second,
					MaxConnsPerPeer: 1}
				l := serveTrustedPipe(t, s)
				c := l.Dial()
				defer c.Close()
				go c.Write(append(tc.header, "data\n"...))
				if tc.want == "" {
					if b, _ := io.ReadAll(c); len(b) != 0 {
						t.Fatalf("got %q, want refusal", b)
					}
					return
				}
				want := tc.want + "data\n"
				got := make([]byte, len(want))
				if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
					t.Fatalf("got %q, %v; want %q", got, err, want)
				}
			})
		})
	}
}

// TestProxyHeaderThenBulkData: the bytes that follow a header in the same
// write, more than the header reader buffers, all reach the Protocol, in
// order, none lost or repeated.
func TestProxyHeaderThenBulkData(t *testing.T) {
	for _, v := range []byte{1, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &Server{Factory: echoFactory(), HandshakeTimeout: 3 * time.Second}
				l := serveTrustedPipe(t, s)
				c := l.Dial()
				defer c.Close()
				data := pattern('x', 5000)
				go c.Write(append(proxyHeader(t, v, "203.0.113.7:4242"), data...))
				got := make([]byte, len(data))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("echo: %v; equal %v", err, bytes.Equal(got, data))
				}
			})
		})
	}
}

// lostRec records what its connection saw.
type lostRec struct {
	echo
	lost chan error
}

func (r *lostRec) ConnectionLost(err error) { r.lost <- err }

// TestProxyHeaderThenHalfClose (loopback: half-close needs TCP): a client
// that sends a header and data and half-closes is served: its data, then a
// clean ConnectionLost, and its echo reaches it. One whose v2 length points
// past what it sent and that then half-closes is closed at once, without a
// byte (handshake failed), not left to HandshakeTimeout.
func TestProxyHeaderThenHalfClose(t *testing.T) {
	lost := make(chan error, 1)
	s := &Server{Factory: factoryOf(func() *lostRec { return &lostRec{lost: lost} })}
	addr := serveProxy(t, s, "127.0.0.1/32")
	c := dial(t, addr)
	c.Write(append(proxyHeader(t, 2, "203.0.113.7:4242"), "bye\n"...))
	c.(*net.TCPConn).CloseWrite()
	if b := readToEOF(t, c); string(b) != "bye\n" {
		t.Fatalf("got %q; want the echo then EOF", b)
	}
	select {
	case err := <-lost:
		if err != nil {
			t.Errorf("ConnectionLost(%v), want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ConnectionLost")
	}

	short := dial(t, addr)
	short.Write(proxyV2Raw(0x21, 0x11, 4000, v4Block()))
	short.(*net.TCPConn).CloseWrite()
	if b := readAll(t, short); len(b) != 0 {
		t.Fatalf("truncated header: got %q, want no byte", b)
	}
	waitFor(t, "handshake failed counted", func() bool { return s.Snapshot().Closed["handshake failed"] == 1 })
}

// TestPerPeerMappedForms: with MaxConnsPerPeer 1, one client named by a v1
// header as 203.0.113.7 and by a v2 TCP6 header as ::ffff:203.0.113.7 is one
// peer: the second connection is refused while the first runs; another
// source behind the same proxy is served.
func TestPerPeerMappedForms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{Factory: factoryOf(func() *whoami { return &whoami{} }), HandshakeTimeout: 3 * time.Second,
			MaxConnsPerPeer: 1, RejectMessage: []byte("busy\n")}
		l := serveTrustedPipe(t, s)
		a := l.Dial()
		defer a.Close()
		go a.Write(proxyHeader(t, 1, "203.0.113.7:1"))
		want := "you are 203.0.113.7:1\n"
		got := make([]byte, len(want))
		if _, err := io.ReadFull(a, got); err != nil || string(got) != want {
			t.Fatalf("first: %q, %v", got, err)
		}
		h := proxyproto.HeaderProxyFromAddrs(2,
			net.TCPAddrFromAddrPort(netip.MustParseAddrPort("[::ffff:203.0.113.7]:2")),
			net.TCPAddrFromAddrPort(netip.MustParseAddrPort("[::1]:80")))
		hb, err := h.Format()
		if err != nil {
			t.Fatal(err)
		}
		b := l.Dial()
		defer b.Close()
		go b.Write(hb)
		if got, _ := io.ReadAll(b); string(got) != "busy\n" {
			t.Fatalf("mapped form of the same peer: got %q, want the reject message", got)
		}
		if n := s.Snapshot().Rejected["per peer"]; n != 1 {
			t.Errorf("per peer rejections %d, want 1", n)
		}
		d := l.Dial()
		defer d.Close()
		go d.Write(proxyHeader(t, 2, "203.0.113.8:1"))
		want = "you are 203.0.113.8:1\n"
		got = make([]byte, len(want))
		if _, err := io.ReadFull(d, got); err != nil || string(got) != want {
			t.Fatalf("other peer: %q, %v", got, err)
		}
	})
}

var _ weft.Protocol = (*lostRec)(nil)

// TestProxyV1Split: a v1 header from a trusted source that arrives in
// pieces (two segments, or one byte per segment) is read whole within
// HandshakeTimeout, as a v2 header is: the spec recommends tolerance, and
// HandshakeTimeout and MaxHandshakes already bound a slow sender.
// go-proxyproto alone refuses a v1 line not buffered in one read.
func TestProxyV1Split(t *testing.T) {
	hdr := []byte("PROXY TCP4 203.0.113.7 192.0.2.1 4242 80\r\n")
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, c net.Conn, p []byte)
	}{
		{"two-segments", func(t *testing.T, c net.Conn, p []byte) {
			c.Write(p[:20])
			time.Sleep(time.Millisecond) // fake time: the server reads the first piece alone
			c.Write(p[20:])
		}},
		{"drip", writeDrip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &Server{Factory: factoryOf(func() *whoami { return &whoami{} }), HandshakeTimeout: 3 * time.Second}
				l := serveTrustedPipe(t, s)
				c := l.Dial()
				defer c.Close()
				wrote := make(chan struct{})
				go func() {
					defer close(wrote)
					tc.write(t, c, append(append([]byte(nil), hdr...), "after\n"...))
				}()
				defer func() { <-wrote }()
				want := "you are 203.0.113.7:4242\nafter\n"
				got := make([]byte, len(want))
				if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
					t.Fatalf("got %q, %v; want %q (closed %v)", got, err, want, s.Snapshot().Closed)
				}
			})
		})
	}
}

// TestProxyTrustedDirectPROXYWord: a trusted source's direct client whose
// first bytes are "PROXY" not followed by a space (no v1 signature: the
// spec's is "PROXY" and one space) is served as a direct client, as an
// untrusted one is, not refused as a bad header.
func TestProxyTrustedDirectPROXYWord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{Factory: echoFactory(), HandshakeTimeout: 3 * time.Second}
		l := serveTrustedPipe(t, s)
		c := l.Dial()
		defer c.Close()
		const msg = "PROXYING is my verb\n"
		go c.Write([]byte(msg))
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("got %q, %v; want the echo (closed %v)", got, err, s.Snapshot().Closed)
		}
	})
}

// TestProxyUntrustedDripped: an untrusted source's PROXY signature (v1 or
// v2) dripped one byte per segment is still recognised and refused.
func TestProxyUntrustedDripped(t *testing.T) {
	for _, v := range []byte{1, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &Server{Factory: echoFactory(), HandshakeTimeout: 3 * time.Second}
				l := newPipeListener() // "pipe" addresses: no IP, never trusted
				done := make(chan error, 1)
				go func() { done <- s.ServeProxy(l, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}) }()
				defer func() { s.Close(); <-done }()
				c := l.Dial()
				defer c.Close()
				go writeDrip(t, c, proxyHeader(t, v, "198.51.100.1:1"))
				if b, _ := io.ReadAll(c); len(b) != 0 {
					t.Fatalf("got %q, want refusal", b)
				}
				synctest.Wait()
				if n := s.Snapshot().Rejected["untrusted proxy"]; n != 1 {
					t.Errorf("untrusted proxy rejections %d, want 1", n)
				}
			})
		})
	}
}

// TestProxyV1Stall: a trusted source that stops inside a v1 line is closed
// without a byte when HandshakeTimeout ends (reason handshake timeout), and
// one that hangs up inside it at once (handshake failed).
func TestProxyV1Stall(t *testing.T) {
	for _, hangup := range []bool{false, true} {
		t.Run(fmt.Sprint("hangup=", hangup), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &Server{Factory: echoFactory(), HandshakeTimeout: 3 * time.Second}
				l := serveTrustedPipe(t, s)
				c := l.Dial()
				defer c.Close()
				start := time.Now()
				c.Write([]byte("PROXY TCP4 203.0.113.7 19"))
				want, reason := 3*time.Second, "handshake timeout"
				if hangup {
					c.Close()
					want, reason = 0, "handshake failed"
				} else if b, _ := io.ReadAll(c); len(b) != 0 {
					t.Fatalf("got %q, want no byte", b)
				}
				synctest.Wait()
				if d := time.Since(start); d != want {
					t.Errorf("closed after %v, want %v", d, want)
				}
				if n, got := closedReasons(s); n != 1 || got[reason] != 1 {
					t.Errorf("closed %v, want one %q", got, reason)
				}
			})
		})
	}
}

// TestQueuedProxyBulk: a queued client behind a trusted proxy whose header
// came with more data than the header reader holds, and that sent more while
// queued, gets every byte echoed in order once it has a slot: the bytes read
// with the header first, then the ones left in the socket.
func TestQueuedProxyBulk(t *testing.T) {
	s := &Server{Factory: echoFactory(), MaxConns: 1, Overflow: QueueFIFO}
	addr := serveProxy(t, s, "127.0.0.1/32")
	a := dial(t, addr)
	a.Write(proxyHeader(t, 2, "203.0.113.1:1"))
	roundTrip(t, a, "A")
	b := dial(t, addr)
	data := pattern('b', 20000)
	b.Write(append(proxyHeader(t, 1, "203.0.113.2:2"), data[:3000]...))
	sendSmall(t, b, data[3000:])
	waitFor(t, "B queued", func() bool { return s.Snapshot().Queued == 1 })
	silent(t, b, "B")
	a.Close()
	if got := readN(t, b, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("B's echo differs from what it sent (%d bytes)", len(data))
	}
}

// TestProxyPrereadEngines: the bytes read with a PROXY header (and those an
// untrusted client's sniff read) reach the Protocol first, in order, on
// either runtime, and the Protocol sees the header's source.
func TestProxyPrereadEngines(t *testing.T) {
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) {
			s := &Server{Factory: factoryOf(func() *whoami { return &whoami{} }), Engine: engine(t)}
			addr := serveProxy(t, s, "127.0.0.1/32")
			data := pattern('e', 3000)
			c := dial(t, addr)
			c.Write(append(proxyHeader(t, 2, "203.0.113.7:4242"), data...))
			want := append([]byte("you are 203.0.113.7:4242\n"), data...)
			if got := readN(t, c, len(want)); !bytes.Equal(got, want) {
				t.Fatalf("trusted: got %q..., want %q...", got[:40], want[:40])
			}
			u := dial(t, addr, "127.0.0.2")
			u.Write(data)
			wantU := "you are " + u.LocalAddr().String() + "\n"
			if got := readN(t, u, len(wantU)+len(data)); string(got[:len(wantU)]) != wantU || !bytes.Equal(got[len(wantU):], data) {
				t.Fatalf("untrusted: got %q...", got[:40])
			}
		})
	}
}

// TestProxyStallThenShutdown: a trusted source inside a header (v1 or v2)
// when a graceful Shutdown closes it is counted as closed by the shutdown,
// not as a bad header (logged at Warn).
func TestProxyStallThenShutdown(t *testing.T) {
	for _, part := range []string{"PROXY TCP4 203.0.113.7 19", string(proxyV2Raw(0x21, 0x11, 12, v4Block()[:5]))} {
		t.Run(fmt.Sprintf("%q", part[:6]), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &Server{Factory: echoFactory(), HandshakeTimeout: 3 * time.Second}
				l := serveTrustedPipe(t, s)
				c := l.Dial()
				defer c.Close()
				c.Write([]byte(part))
				synctest.Wait()
				if err := s.Shutdown(context.Background()); err != nil {
					t.Fatalf("Shutdown = %v", err)
				}
				if n, got := closedReasons(s); n != 1 || got["shutdown"] != 1 {
					t.Errorf("closed %v, want one shutdown", got)
				}
			})
		})
	}
}
