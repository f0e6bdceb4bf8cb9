package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestNextAndAppend(t *testing.T) {
	for _, tc := range []struct {
		codec, in string
		payload   string
		n         int
		bad       bool
	}{
		{"line", "hello\r\nrest", "hello", 7, false},
		{"line", "hello\nrest", "hello", 6, false},
		{"line", "partial", "", 0, false},
		{"netstring", "5:hello,x", "hello", 8, false},
		{"netstring", "0:,", "", 3, false},
		{"netstring", "5:hel", "", 0, false},
		{"netstring", "5:helloX", "", 0, true},
		{"netstring", "05:hello,", "", 0, true},
		{"netstring", "-1:", "", 0, true},
		{"netstring", "123456789", "", 0, true},
		{"int32", "\x00\x00\x00\x02hi!", "hi", 6, false},
		{"int32", "\x00\x00\x00", "", 0, false},
		{"int32", "\x7f\x00\x00\x00", "", 0, true},
		{"json", "{}", "", 0, true},
	} {
		p, n, err := Next(tc.codec, []byte(tc.in))
		if (err != nil) != tc.bad || (err != nil && !errors.Is(err, ErrFrame)) {
			t.Errorf("Next(%s, %q) error %v, want bad=%v", tc.codec, tc.in, err, tc.bad)
			continue
		}
		if string(p) != tc.payload || n != tc.n {
			t.Errorf("Next(%s, %q) = %q, %d; want %q, %d", tc.codec, tc.in, p, n, tc.payload, tc.n)
		}
	}
}

// FuzzNext: Next never panics, never claims more bytes than it was given, and
// a frame Append encodes comes back whole.
func FuzzNext(f *testing.F) {
	f.Add(uint8(0), []byte("hello\r\n"))
	f.Add(uint8(1), []byte("5:hello,"))
	f.Add(uint8(2), []byte("\x00\x00\x00\x01x"))
	f.Add(uint8(1), []byte("99999999:"))
	codecs := []string{"line", "netstring", "int32"}
	f.Fuzz(func(t *testing.T, c uint8, data []byte) {
		codec := codecs[int(c)%len(codecs)]
		p, n, err := Next(codec, data)
		if err == nil && (n > len(data) || n < 0 || len(p) > n) {
			t.Fatalf("Next(%s, %q) = %q, %d", codec, data, p, n)
		}
		payload := data
		if codec == "line" {
			payload = bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\n"), nil), []byte("\r"), nil)
		}
		w := Append(codec, nil, payload)
		p, n, err = Next(codec, w)
		if err != nil || n != len(w) || !bytes.Equal(p, payload) {
			t.Fatalf("round trip %s %q: %q, %d, %v", codec, payload, p, n, err)
		}
	})
}
