package chat_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/protocols/chat"
)

// FuzzChat feeds arbitrary input from two clients to one room where a third
// client, named first, only listens: the server never panics or hangs, the
// room is empty once all hung up, and everything the listener received
// (which all comes from the others) is lines of valid UTF-8 ended by
// "\r\n", with no control character but TAB and no format character that
// reorders or hides the text after it (bidi embeddings, overrides and
// isolates...): no client can drive another's terminal or make a line
// display as something else.
func FuzzChat(f *testing.F) {
	f.Add([]byte("alice\nhello\n/who\n/quit\n"), []byte("bob\r\n/name alice\r\n/NAME carol\r\nhi\r\n"))
	f.Add([]byte("\n\n/exit\n"), []byte("/who\n"))
	f.Add([]byte("a\n/name\n/name  \n/unknown x\n"), []byte("a\na\nb\n<a> x\n"))
	f.Add([]byte("ann\n\x1b[2Jhi\ninnocent\r<bob> evil\nx\u009by\nbad\xff\n"), []byte("bob\nab\x08\x08\x08ok\t\x7f\n/name \x1b]0;t\x07\n"))
	f.Add([]byte("ann\n\u202eevil\nx\u2067y\u2069\n\u206a\ufff9z\n"), []byte("bob\n\u200fok\u200d\n/name b\u202eo\n"))
	f.Add([]byte("ann\nhi\u2028<bob> x\n"), []byte("bob\ny\u2029z\n"))
	f.Fuzz(func(t *testing.T, in1, in2 []byte) {
		var room chat.Server
		done := make(chan struct{}, 3)
		serve := func() net.Conn {
			c, s := net.Pipe()
			go func() {
				_ = weft.Serve(s, room.BuildProtocol(nil), nil)
				done <- struct{}{}
			}()
			return c
		}

		w := serve() // the listener
		_ = w.SetDeadline(time.Now().Add(10 * time.Second))
		wr := bufio.NewReader(w)
		if l, err := wr.ReadString('\n'); l != chat.MsgAskName+"\r\n" {
			t.Fatalf("listener got %q (%v)", l, err)
		}
		if _, err := w.Write([]byte("zz watcher\n")); err != nil {
			t.Fatal(err)
		}
		if l, err := wr.ReadString('\n'); l != "Welcome, zz watcher!\r\n" {
			t.Fatalf("listener got %q (%v)", l, err)
		}
		heard := make(chan string, 1)
		go func() {
			b, _ := io.ReadAll(wr)
			heard <- string(b)
		}()

		for _, in := range [][]byte{in1, in2} {
			c := serve()
			go func() { _, _ = io.Copy(io.Discard, c) }()
			go func() {
				_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				_, _ = c.Write(in)
				c.Close()
			}()
		}
		<-done
		<-done
		// The listener leaves last, with "/quit": the server sends "Bye."
		// after everything before it, and closes.
		if _, err := w.Write([]byte("/quit\n")); err != nil {
			t.Fatal(err)
		}
		out := <-heard
		w.Close()
		<-done
		if n := room.Names(); len(n) != 0 {
			t.Fatalf("room holds %q after every client left", n)
		}
		if !strings.HasSuffix(out, chat.MsgBye+"\r\n") {
			t.Fatalf("the listener's output does not end with %q: %q", chat.MsgBye, out)
		}
		for _, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
			if !cleanLine(l) {
				t.Fatalf("the listener received %+q: invalid UTF-8, a control character or a bidi override", l)
			}
		}
	})
}

// cleanLine reports whether l is valid UTF-8 without control characters
// (C0, DEL, C1) other than TAB, and without the format characters that
// reorder or hide the text after them: the bidi embeddings and overrides
// U+202A..U+202E, the isolates U+2066..U+2069, the deprecated U+206A..U+206F,
// the interlinear annotation characters U+FFF9..U+FFFB; and without the
// line and paragraph separators U+2028, U+2029.
func cleanLine(l string) bool {
	return utf8.ValidString(l) && !strings.ContainsFunc(l, func(r rune) bool {
		return r != '\t' && (r < 0x20 || r >= 0x7f && r < 0xa0) || r == 0x2028 || r == 0x2029 ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x206f || r >= 0xfff9 && r <= 0xfffb
	})
}
