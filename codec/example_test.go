package codec_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// An echo server protocol over netstrings: serve it with
// weft.Serve(conn, codec.NewProtocol(codec.Netstring{}, &netEcho{}), nil).
type netEcho struct{ t codec.FrameTransport }

func (e *netEcho) ConnectionMade(t codec.FrameTransport) { e.t = t }
func (e *netEcho) FrameReceived(frame []byte)            { _ = e.t.SendFrame(frame) }
func (e *netEcho) ConnectionLost(reason error)           {}

func ExampleNewProtocol() {
	var p weft.Protocol = codec.NewProtocol(codec.Netstring{MaxLength: 1 << 16}, &netEcho{})
	// Drive it by hand here; a server calls weft.Serve(conn, p, nil).
	tr := &fakeTransport{}
	p.ConnectionMade(tr)
	p.DataReceived([]byte("5:hello,3:a"))
	p.DataReceived([]byte("bc,"))
	fmt.Println(tr.written())
	// Output: 5:hello,3:abc,
}

// A request–reply handler that answers each command line from its
// callbacks only (another goroutine would go through Post), so it may
// coalesce: the answers to pipelined commands leave in one write.
type kv struct {
	t    codec.FrameTransport
	vals map[string]string
}

func (k *kv) ConnectionMade(t codec.FrameTransport) { k.t, k.vals = t, map[string]string{} }
func (k *kv) ConnectionLost(error)                  {}
func (k *kv) FrameReceived(line []byte) {
	cmd, arg, _ := strings.Cut(string(line), " ")
	switch cmd {
	case "SET":
		key, val, _ := strings.Cut(arg, "=")
		k.vals[key] = val
		_ = k.t.SendFrame([]byte("OK"))
	case "GET":
		_ = k.t.SendFrame([]byte("VALUE " + k.vals[arg]))
	default:
		_ = k.t.SendFrame([]byte("ERR unknown command"))
	}
}

// countingTransport counts the Writes that reach it.
type countingTransport struct {
	fakeTransport
	writes int
}

func (c *countingTransport) Write(p []byte) (int, error) {
	c.writes++
	return c.fakeTransport.Write(p)
}

func ExampleNewCoalescingProtocol() {
	p := codec.NewCoalescingProtocol(codec.Line{}, &kv{})
	// Drive it by hand here; a server calls weft.Serve(conn, p, nil).
	tr := &countingTransport{}
	p.ConnectionMade(tr)
	p.DataReceived([]byte("SET a=1\r\nGET a\r\nDEL a\r\n")) // three pipelined commands
	fmt.Printf("%q in %d write\n", tr.written(), tr.writes)
	// Output: "OK\r\nVALUE 1\r\nERR unknown command\r\n" in 1 write
}

// A handler reading a header line, then a raw body of the announced length,
// then lines again: Twisted's LineReceiver pattern.
type upload struct {
	r    *codec.LineReceiver
	need int
}

func (u *upload) ConnectionMade(r *codec.LineReceiver) { u.r = r }
func (u *upload) ConnectionLost(error)                 {}
func (u *upload) LineReceived(line []byte) {
	if _, err := fmt.Sscanf(string(line), "BODY %d", &u.need); err == nil {
		u.r.SetRawMode()
		return
	}
	fmt.Printf("line %q\n", line)
}
func (u *upload) RawDataReceived(data []byte) {
	n := min(u.need, len(data))
	fmt.Printf("body %q\n", data[:n])
	if u.need -= n; u.need == 0 {
		u.r.SetLineMode(data[n:])
	}
}

func ExampleLineReceiver() {
	r := codec.NewLineReceiver(&upload{})
	r.ConnectionMade(&fakeTransport{})
	r.DataReceived([]byte("HELLO\r\nBODY 6\r\nab\r\ncdBYE\r\n"))
	// Output:
	// line "HELLO"
	// body "ab\r\ncd"
	// line "BYE"
}

func ExampleSplitFunc() {
	sc := bufio.NewScanner(strings.NewReader("3:one,3:two,5:three,"))
	sc.Split(codec.SplitFunc(codec.Netstring{}))
	for sc.Scan() {
		fmt.Println(sc.Text())
	}
	// Output:
	// one
	// two
	// three
}

func ExampleFrameReader() {
	var wire bytes.Buffer
	fw := codec.NewFrameWriter(&wire, codec.Int32())
	_ = fw.WriteFrame([]byte("first"))
	_ = fw.WriteFrame([]byte("second"))
	fmt.Printf("%q\n", wire.String())

	fr := codec.NewFrameReader(&wire, codec.Int32())
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(string(f))
	}
	// Output:
	// "\x00\x00\x00\x05first\x00\x00\x00\x06second"
	// first
	// second
	// EOF
}

func ExampleNetstring_errors() {
	fr := codec.NewFrameReader(strings.NewReader("2:hi,03:abc,"), codec.Netstring{})
	f, _ := fr.ReadFrame()
	fmt.Println(string(f))
	_, err := fr.ReadFrame()
	fmt.Println(errors.Is(err, codec.ErrMalformed))
	fmt.Println(err)
	// Output:
	// hi
	// true
	// codec: malformed frame: netstring byte at stream offset 6 (byte 1 of the frame): leading zero in length
}

func ExampleLengthPrefix() {
	// A 10 GB announcement is refused as soon as the 8-byte prefix arrives.
	c := codec.LengthPrefix{Size: 8, MaxLength: 1 << 20}
	fr := codec.NewFrameReader(strings.NewReader("\x00\x00\x00\x02\x54\x0b\xe4\x00"), c)
	_, err := fr.ReadFrame()
	fmt.Println(err)
	// Output: codec: frame too large: length prefix at stream offset 0 announces 10000000000 bytes, limit is 1048576
}
