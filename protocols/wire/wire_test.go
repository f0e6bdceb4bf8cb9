package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/protocols/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs f's protocol on one end of a pipe and returns the other end.
func serve(t *testing.T, f weft.Factory) net.Conn {
	t.Helper()
	c, s := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = weft.Serve(s, f.BuildProtocol(c.LocalAddr()), nil)
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return c
}

func readAll(t *testing.T, c net.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

var clock = func() time.Time { return time.Date(2026, 11, 25, 20, 6, 30, 0, time.UTC) }

func TestOneShotExactBytes(t *testing.T) {
	tests := []struct {
		name string
		f    weft.Factory
		want []byte
	}{
		{"qotd default", &wire.QOTD{}, []byte("An apple a day keeps the doctor away\r\n")},
		{"qotd one", &wire.QOTD{Quotes: []string{"x y"}}, []byte("x y\r\n")},
		{"daytime", wire.Daytime{Now: clock}, []byte("Wednesday, November 25, 2026 20:06:30-UTC\r\n")},
		{"daytime non-UTC clock", wire.Daytime{Now: func() time.Time { return clock().In(time.FixedZone("X", 3600)) }},
			[]byte("Wednesday, November 25, 2026 20:06:30-UTC\r\n")},
		// 2026-11-25 20:06:30 UTC is Unix 1795637190; + 2208988800 = 4004625990.
		{"time", wire.Time{Now: clock}, binary.BigEndian.AppendUint32(nil, 4004625990)},
		{"time epoch", wire.Time{Now: func() time.Time { return time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC) }}, []byte{0, 0, 0, 0}},
		{"time 1970", wire.Time{Now: func() time.Time { return time.Unix(0, 0) }}, []byte{0x83, 0xaa, 0x7e, 0x80}},
		// RFC 868's 32 bits run out on 2036-02-07 06:28:16 UTC: the count
		// wraps to 0 (modulo 2^32) and goes on, never an error or a panic.
		{"time before 2036 wrap", wire.Time{Now: func() time.Time { return time.Date(2036, 2, 7, 6, 28, 15, 0, time.UTC) }}, []byte{0xff, 0xff, 0xff, 0xff}},
		{"time 2036 wrap", wire.Time{Now: func() time.Time { return time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC) }}, []byte{0, 0, 0, 0}},
		{"time after 2036 wrap", wire.Time{Now: func() time.Time { return time.Date(2036, 2, 7, 6, 28, 17, 0, time.UTC) }}, []byte{0, 0, 0, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, tc.f)
			if got := readAll(t, c); !bytes.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestQOTDRotates(t *testing.T) {
	q := &wire.QOTD{Quotes: []string{"one", "two", "three"}}
	var got []string
	for range 7 {
		got = append(got, string(readAll(t, serve(t, q))))
	}
	want := []string{"one\r\n", "two\r\n", "three\r\n", "one\r\n", "two\r\n", "three\r\n", "one\r\n"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("connection %d got %q, want %q (all: %q)", i, got[i], want[i], got)
		}
	}
}

func TestEcho(t *testing.T) {
	c := serve(t, wire.Echo{})
	msg := []byte("hello\x00\xff world\n")
	go func() { _, _ = c.Write(msg) }()
	got := make([]byte, len(msg))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo got %q, %v", got, err)
	}
}

// TestDiscardSendsNothing: once the server has taken the bytes and done all
// it will with them (synctest.Wait: a write of its own would be left blocked
// on the pipe), nothing can be read. Before, a 50 ms real-time read window
// let a late answer on a loaded machine pass unseen.
func TestDiscardSendsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := serve(t, wire.Discard{})
		// A pipe write returns once the server has read all of it.
		if _, err := d.Write([]byte("hello\x00\xff world\n")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		_ = d.SetReadDeadline(time.Now().Add(time.Second)) // fake time
		got := make([]byte, 64)
		if n, err := d.Read(got); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("discard sent %q (%v), want nothing", got[:n], err)
		}
	})
}

func TestFramedEcho(t *testing.T) {
	tests := []struct {
		name string
		c    codec.Codec
		in   []byte
	}{
		{"line", codec.Line{}, []byte("a\r\nbc\n\r\n")},
		{"netstring", codec.Netstring{}, []byte("3:abc,0:,")},
		{"int8", codec.Int8(), []byte("\x02hi\x00")},
		{"int16", codec.Int16(), []byte("\x00\x02hi")},
		{"int32", codec.Int32(), []byte("\x00\x00\x00\x03abc")},
	}
	wantOut := map[string][]byte{"line": []byte("a\r\nbc\r\n\r\n")}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, wire.FramedEcho{Codec: tc.c})
			go func() { _, _ = c.Write(tc.in) }()
			want := tc.in
			if w, ok := wantOut[tc.name]; ok {
				want = w
			}
			got := make([]byte, len(want))
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("got %q (%v), want %q", got, err, want)
			}
		})
	}
}

// TestFramedEchoRefusedFrame: the frames before one the codec refuses are
// echoed, then the connection is closed with the codec's error.
func TestFramedEchoRefusedFrame(t *testing.T) {
	tests := []struct {
		name    string
		c       codec.Codec
		in      string
		echoed  string // what the client reads before the close
		wantErr error
	}{
		{"line too long", codec.Line{MaxLength: 4}, "ab\nabcdefgh\n", "ab\r\n", codec.ErrFrameTooLarge},
		{"netstring too long", codec.Netstring{MaxLength: 4}, "2:ab,9:abcdefghi,", "2:ab,", codec.ErrFrameTooLarge},
		{"netstring malformed", codec.Netstring{}, "2:ab,x:abc,", "2:ab,", codec.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, s := net.Pipe()
			defer c.Close()
			done := make(chan error, 1)
			go func() { done <- weft.Serve(s, wire.FramedEcho{Codec: tc.c}.BuildProtocol(nil), nil) }()
			go func() { _, _ = c.Write([]byte(tc.in)) }()
			if got := readAll(t, c); string(got) != tc.echoed {
				t.Errorf("client read %q before the close, want %q", got, tc.echoed)
			}
			if err := <-done; !errors.Is(err, tc.wantErr) {
				t.Errorf("Serve = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestChargenPattern(t *testing.T) {
	p := wire.ChargenPattern(3 * 74)
	want := " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n" +
		"!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n" +
		"\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghi\r\n"
	if string(p) != want {
		t.Fatalf("got\n%q\nwant\n%q", p, want)
	}
	// Line 95 starts the cycle again; line 94 starts with '~'.
	all := wire.ChargenPattern(96 * 74)
	if l94 := all[94*74 : 95*74]; l94[0] != '~' || l94[1] != ' ' {
		t.Errorf("line 94 = %q", l94)
	}
	if !bytes.Equal(all[95*74:], all[:74]) {
		t.Errorf("line 95 = %q, want line 0", all[95*74:])
	}
}

// TestChargenStreams reads well past several pause/resume cycles over
// loopback TCP and checks every byte.
func TestChargenStreams(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		done <- weft.Serve(s, wire.Chargen{}.BuildProtocol(nil), nil)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	const n = 1 << 20
	got := make([]byte, n)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if want := wire.ChargenPattern(n); !bytes.Equal(got, want) {
		i := 0
		for got[i] == want[i] {
			i++
		}
		t.Fatalf("stream differs at byte %d", i)
	}
	c.Close()
	<-done
}

// transportSpy records the Transport of the protocol it wraps.
type transportSpy struct {
	weft.Protocol
	t chan weft.Transport
}

func (s *transportSpy) ConnectionMade(t weft.Transport) {
	s.t <- t
	s.Protocol.ConnectionMade(t)
}

// TestChargenBoundedMemory: a client that never reads leaves the server with
// a bounded buffer, and the connection is not dropped as a slow consumer
// (it is aborted after the stall timeout, a minute: TestChargenNonReaderDropped).
func TestChargenBoundedMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := net.Pipe()
		spy := &transportSpy{Protocol: wire.Chargen{}.BuildProtocol(nil), t: make(chan weft.Transport, 1)}
		done := make(chan error, 1)
		go func() { done <- weft.Serve(s, spy, nil) }()
		tr := <-spy.t
		time.Sleep(50 * time.Second) // fake time: let the server do all it will, within the stall timeout
		synctest.Wait()
		if b := tr.Buffered(); b > weft.DefaultHighWater+95*74 || b < weft.DefaultHighWater {
			t.Errorf("buffered %d bytes, want about the high-water mark %d", b, weft.DefaultHighWater)
		}
		select {
		case err := <-done:
			t.Fatalf("the server ended the connection of a client that only stopped reading: %v", err)
		default:
		}
		c.Close()
		if err := <-done; err != nil && !isClosedErr(err) {
			t.Errorf("serve after the client hung up: %v, want a clean end", err)
		}
	})
}

func isClosedErr(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) }

// TestEchoFlowControl: a client that sends much more than MaxWriteBuffer
// before it reads (or reads slower than it writes) gets every byte back:
// echo stops reading while its output is above the high-water mark, so the
// client's writes wait instead of the server dropping it as a slow consumer
// (before the fix: ErrSlowConsumer after about 1 MiB, the rest lost).
func TestEchoFlowControl(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    weft.Factory
	}{
		{"echo", wire.Echo{}},
		{"framed raw", wire.FramedEcho{}},
		{"framed line", wire.FramedEcho{Codec: codec.Line{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				echoLateReader(t, tc.f, nil, 3<<10) // 3 MiB
			})
		})
	}
}

// echoLateReader serves f over a net.Pipe with opts (inside a synctest
// bubble), writes lines of 1 KiB (KiBs of them) before it reads anything,
// reads only once the server did all it would, and checks that every byte
// comes back.
func echoLateReader(t *testing.T, f weft.Factory, opts *weft.Options, kibs int) {
	t.Helper()
	c, s := net.Pipe()
	defer c.Close()
	done := make(chan error, 1)
	go func() { done <- weft.Serve(s, f.BuildProtocol(nil), opts) }()
	line := append(bytes.Repeat([]byte("e"), 1022), "\r\n"...)
	msg := bytes.Repeat(line, kibs)
	wrote := writePieces(c, msg, []int{len(msg)})
	synctest.Wait()
	got := make([]byte, len(msg))
	n, err := io.ReadFull(c, got)
	if err != nil || !bytes.Equal(got, msg) {
		select {
		case e := <-done:
			err = fmt.Errorf("%v; server: %v", err, e)
		default:
		}
		t.Fatalf("echoed %d of %d bytes: %v", n, len(msg), err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("client write: %v", err)
	}
	c.Close()
	<-done
}

// writePieces writes msg to c in pieces of the given sizes on a goroutine
// of its own, and reports the first error, or nil, on the channel.
func writePieces(c net.Conn, msg []byte, pieces []int) <-chan error {
	wrote := make(chan error, 1)
	go func() {
		off := 0
		for _, k := range pieces {
			if _, err := c.Write(msg[off : off+k]); err != nil {
				wrote <- err
				return
			}
			off += k
		}
		wrote <- nil
	}()
	return wrote
}
