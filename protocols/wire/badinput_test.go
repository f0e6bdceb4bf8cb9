package wire_test

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/internal/testenv"
	"github.com/weftkit/weft/protocols/wire"
)

// biCase is a case of testenv.RunBadInput.
type biCase struct {
	Name string
	Fn   func() error
	Want string
}

// biDrive serves p over net.Pipe, sends in, then reads for up to 300 ms
// (or to the end of the stream) and returns the connection's end reason.
func biDrive(p weft.Protocol, in string) ([]byte, error) {
	if p == nil {
		return nil, fmt.Errorf("nil Protocol")
	}
	a, b := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- weft.Serve(a, p, nil) }()
	if in != "" {
		b.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		b.Write([]byte(in))
	}
	b.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	out, _ := io.ReadAll(io.LimitReader(b, 1<<20))
	b.Close()
	select {
	case err := <-done:
		return out, err
	case <-time.After(3 * time.Second):
		return out, fmt.Errorf("Serve did not return")
	}
}

// TestBadInputWire: the wire services' factories with zero and hostile
// fields, and the helpers with degenerate arguments. Before the fix
// ChargenPattern(-1) panicked with "runtime error: slice bounds out of range
// [:-1]" and Validate on a nil *QOTD with "runtime error: invalid memory
// address or nil pointer dereference".
func TestBadInputWire(t *testing.T) {
	drive := func(f weft.Factory, in string) func() error {
		return func() error {
			out, err := biDrive(f.BuildProtocol(nil), in)
			if err != nil {
				return err
			}
			return fmt.Errorf("out %d bytes: %.40q", len(out), out)
		}
	}
	var nilQOTD *wire.QOTD
	cases := []biCase{
		{"ChargenPattern neg", func() error { return fmt.Errorf("%d", len(wire.ChargenPattern(-1))) }, "panic: wire: ChargenPattern: negative length -1"},
		{"ChargenPattern 0", func() error { return fmt.Errorf("%d", len(wire.ChargenPattern(0))) }, "err: 0"},
		{"DaytimeLine zero", func() error { return fmt.Errorf("%q", wire.DaytimeLine(time.Time{})) }, "err: \"Monday, January 1, 0001 00:00:00-UTC\""},
		{"TimeBytes zero", func() error { return fmt.Errorf("%x", wire.TimeBytes(time.Time{})) }, "err: 0c188780"},
		{"TimeBytes far future", func() error { return fmt.Errorf("%x", wire.TimeBytes(time.Unix(1<<40, 0))) }, "err: 83aa7e80"},
		{"TimeBytes before 1900", func() error { return fmt.Errorf("%x", wire.TimeBytes(time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC))) }, "err: 43e83e00"},
		{"Chargen zero", drive(wire.Chargen{}, ""), "err: io: read/write on closed pipe"},
		{"Chargen neg stall", drive(wire.Chargen{StallTimeout: -1}, ""), "err: io: read/write on closed pipe"},
		{"Daytime zero", drive(wire.Daytime{}, ""), "err: out "},
		{"Daytime neg close", drive(wire.Daytime{CloseTimeout: -1}, ""), "err: out "},
		{"Time zero", drive(wire.Time{}, ""), "err: out 4 bytes"},
		{"Time far future", drive(wire.Time{Now: func() time.Time { return time.Unix(1<<40, 0) }}, ""), "err: out 4 bytes: \"\\x83\\xaa~\\x80\""},
		{"Echo", drive(wire.Echo{}, "abc"), "err: out 3 bytes: \"abc\""},
		{"Discard", drive(wire.Discard{}, "abc"), "err: out 0 bytes: \"\""},
		{"FramedEcho zero", drive(wire.FramedEcho{}, "abc\n"), "err: out 4 bytes: \"abc\\n\""},
		{"FramedEcho nil *Line", drive(wire.FramedEcho{Codec: (*codec.Line)(nil)}, "abc\n"), "err: codec: invalid configuration: nil *codec.Line"},
		{"FramedEcho bad codec", drive(wire.FramedEcho{Codec: codec.LengthPrefix{Size: 9}}, "abc\n"), "err: codec: invalid configuration: LengthPrefix.Size 9 is no"},
		{"QOTD zero", drive(&wire.QOTD{}, ""), "err: out 38 bytes: \"An apple a day keeps the doctor away\\r\\n"},
		{"QOTD empty quote", drive(&wire.QOTD{Quotes: []string{""}}, ""), "err: out 2 bytes: \"\\r\\n\""},
		{"QOTD huge quote", drive(&wire.QOTD{Quotes: []string{strings.Repeat("x", 1<<20)}}, ""), "err: io: read/write on closed pipe"},
		{"QOTD neg close", drive(&wire.QOTD{Quotes: []string{"a"}, CloseTimeout: -1}, ""), "err: out 3 bytes: \"a\\r\\n\""},
		{"QOTD zero NextQuote", func() error { return fmt.Errorf("%q", (&wire.QOTD{}).NextQuote()) }, "err: \"An apple a day keeps the doctor away\""},
		{"QOTD zero Validate", func() error { return (&wire.QOTD{}).Validate() }, "ok"},
		{"QOTD nil Validate", func() error { return nilQOTD.Validate() }, "err: wire: nil *QOTD"},
	}
	testenv.RunBadInput(t, cases)
}
