package irc

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weftkit/weft"
)

// TestClientRegisterTimeout: a server that keeps the connection busy (a
// PING every 30 s, which the client answers) but never welcomes the client
// (no 001) must not hold it forever: the connection is closed after the
// registration timeout with ErrRegisterTimeout. Before the fix the client
// waited forever; an idle timeout does not help, the PINGs are traffic.
func TestClientRegisterTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		want    time.Duration
	}{
		{"default", 0, DefaultRegisterTimeout},
		{"set", 45 * time.Second, 45 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := newRecorder()
				c, err := NewClient(Config{Nick: "bot", RegisterTimeout: tc.timeout}, rec)
				if err != nil {
					t.Fatal(err)
				}
				cli, srv := net.Pipe()
				defer srv.Close()
				done := make(chan error, 1)
				start := time.Now()
				go func() { done <- weft.Serve(cli, c, nil) }()
				stop := make(chan struct{})
				go func() { // the server: read everything, PING every 30 s
					r := bufio.NewReader(srv)
					go func() {
						for {
							if _, err := r.ReadString('\n'); err != nil {
								return
							}
						}
					}()
					for {
						if _, err := srv.Write([]byte("PING :s\r\n")); err != nil {
							return
						}
						select {
						case <-stop:
							return
						case <-time.After(30 * time.Second):
						}
					}
				}()
				select {
				case err := <-done:
					if !errors.Is(err, ErrRegisterTimeout) {
						t.Errorf("Serve = %v, want ErrRegisterTimeout", err)
					}
					if d := time.Since(start); d != tc.want {
						t.Errorf("closed after %v, want %v", d, tc.want)
					}
				case <-time.After(time.Hour):
					close(stop)
					srv.Close()
					<-done
					t.Fatal("no 001 for an hour, the client still waits")
				}
				close(stop)
				srv.Close()
				var lost string
				for range len(rec.ev) {
					if e := <-rec.ev; strings.HasPrefix(e, "lost ") {
						lost = e
					}
				}
				if !strings.Contains(lost, ErrRegisterTimeout.Error()) {
					t.Errorf("Handler.ConnectionLost got %q, want ErrRegisterTimeout", lost)
				}
			})
		})
	}
}

// TestClientRegisteredNoTimeout: once welcomed, the registration timer is
// stopped: the connection outlives it.
func TestClientRegisteredNoTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := NewClient(Config{Nick: "bot"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cli, srv := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- weft.Serve(cli, c, nil) }()
		go func() {
			r := bufio.NewReader(srv)
			for {
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
			}
		}()
		if _, err := srv.Write([]byte(":s 001 bot :hi\r\n")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * DefaultRegisterTimeout)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("registered client closed: %v", err)
		default:
		}
		srv.Close()
		<-done
	})
}
