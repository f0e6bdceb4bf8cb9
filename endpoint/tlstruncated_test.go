package endpoint

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// lostWith records what it received and the reason ConnectionLost got.
type lostWith struct {
	got    []byte
	reason chan error
}

func (p *lostWith) ConnectionMade(weft.Transport) {}
func (p *lostWith) DataReceived(b []byte)         { p.got = append(p.got, b...) }
func (p *lostWith) ConnectionLost(err error)      { p.reason <- err }

// TestDialTLSTruncated: over a tls: client connection, a server whose
// stream ends without close_notify gives ConnectionLost
// weft.ErrTLSTruncated; one that sends close_notify ends cleanly.
func TestDialTLSTruncated(t *testing.T) {
	certFile, keyFile, _ := writeCert(t, t.TempDir())
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		notify    bool
		truncated bool
	}{
		{"close_notify", true, false},
		{"socket closed", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			served := make(chan struct{})
			go func() {
				defer close(served)
				raw, err := ln.Accept()
				if err != nil {
					return
				}
				defer raw.Close()
				raw.SetDeadline(time.Now().Add(10 * time.Second))
				s := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{cert}})
				s.Write([]byte("hi\n"))
				if tc.notify {
					s.Close()
				}
			}()
			nc, err := Dial(t.Context(), "tls:127.0.0.1:"+portOf(ln)+":caCerts="+Quote(certFile))
			if err != nil {
				t.Fatal(err)
			}
			p := &lostWith{reason: make(chan error, 1)}
			go weft.Serve(nc, p, nil)
			var reason error
			select {
			case reason = <-p.reason:
			case <-time.After(10 * time.Second):
				t.Fatal("ConnectionLost not called")
			}
			<-served
			if string(p.got) != "hi\n" {
				t.Errorf("received %q, want \"hi\\n\"", p.got)
			}
			if tc.truncated != errors.Is(reason, weft.ErrTLSTruncated) || !tc.truncated && reason != nil {
				t.Errorf("ConnectionLost(%v); want ErrTLSTruncated: %v", reason, tc.truncated)
			}
		})
	}
}
