package endpoint

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Via is for tls only: a Client built directly with Via and another Type
// is refused, instead of dialling Host:Port (or Path) without a word about
// the endpoint it was told to go through.
func TestReviewViaOnlyForTLS(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	via := &Client{Type: "unix", Path: filepath.Join(t.TempDir(), "tunnel.sock")}
	port := ln.Addr().(*net.TCPAddr).Port
	for _, c := range []*Client{
		{Type: "tcp", Host: "127.0.0.1", Port: port, Via: via},
		{Type: "unix", Path: filepath.Join(t.TempDir(), "x"), Via: via},
	} {
		conn, err := c.Dial(t.Context())
		if conn != nil {
			conn.Close()
		}
		var e *Error
		if !errors.As(err, &e) || e.Part != "Via" || !errors.Is(err, ErrInvalidValue) {
			t.Errorf("%s with Via: err = %v, want ErrInvalidValue about Via", c.Type, err)
		}
	}
	select {
	case <-accepted:
		t.Errorf("a tcp Client with Via connected to Host:Port directly")
	default:
	}
}

// A bad endpoint= names the nested description and the part of it at
// fault once, with no empty part and no repeated "endpoint: ".
func TestReviewViaErrorWording(t *testing.T) {
	for _, tt := range []struct {
		desc string
		want error
		text string
	}{
		{"tls:h:1:endpoint=" + Quote("tcp:h:99999"), ErrInvalidValue, `endpoint: tls:h:1:endpoint=tcp\:h\:99999: endpoint: tcp:h:99999: port: invalid value: 99999 out of range [1, 65535]`},
		{`tls:h:1:endpoint=unix\:/tmp/x\\`, ErrSyntax, `endpoint: tls:h:1:endpoint=unix\:/tmp/x\\: endpoint: unix:/tmp/x\: syntax error: trailing backslash`},
	} {
		_, err := ParseClient(tt.desc)
		var e *Error
		if !errors.As(err, &e) || e.Part != "endpoint" || !errors.Is(err, tt.want) || err.Error() != tt.text {
			t.Errorf("ParseClient(%q):\n err  %v\n want %s (matching %v)", tt.desc, err, tt.text, tt.want)
		}
	}
}

// The Client's Timeout covers the nested dial and the handshake: a server
// that accepts and never answers the handshake gives ErrTimeout, through
// one nesting and two, and the raw connection is closed (the server reads
// its end). A cancelled ctx gives ctx's error, not ErrTimeout.
func TestReviewViaTimeoutAndCancel(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ended := make(chan error, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						ended <- err
						return
					}
				}
			}()
		}
	}()
	unix := Quote("unix:" + Quote(sock))
	waitEnd := func(what string) {
		t.Helper()
		select {
		case err := <-ended:
			if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout") {
				t.Errorf("%s: the raw connection was left open (the server's read timed out)", what)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s: the raw connection was not closed", what)
		}
	}
	for _, desc := range []string{
		"tls:h:1:timeout=200ms:endpoint=" + unix,
		"tls:h:1:timeout=200ms:endpoint=" + Quote("tls:h:1:endpoint="+unix),
		"tls:h:1:endpoint=" + Quote("tls:h:1:timeout=200ms:endpoint="+unix),
	} {
		start := time.Now()
		_, err := Dial(t.Context(), desc)
		if !errors.Is(err, ErrTimeout) || time.Since(start) > 5*time.Second {
			t.Errorf("Dial(%q) = %v after %v, want ErrTimeout after about 200ms", desc, err, time.Since(start))
		}
		waitEnd(desc)
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = Dial(ctx, "tls:h:1:endpoint="+unix)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Errorf("cancelled mid-handshake: %v, want context.Canceled and not ErrTimeout", err)
	}
	waitEnd("cancelled")
}

// A tls Client built directly with Via and its own BindAddress is
// refused, as ParseClient refuses bindAddress= with endpoint=: Via makes
// the connection, so the address would be ignored without a word.
func TestReviewViaBindAddress(t *testing.T) {
	c := &Client{Type: "tls", Host: "h", Port: 1, BindAddress: "127.0.0.1",
		Via: &Client{Type: "unix", Path: filepath.Join(t.TempDir(), "s")}}
	_, err := c.Dial(t.Context())
	var e *Error
	if !errors.As(err, &e) || e.Part != "bindAddress" || !errors.Is(err, ErrArguments) {
		t.Errorf("Dial = %v, want ErrArguments about bindAddress", err)
	}
}
