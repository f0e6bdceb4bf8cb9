//go:build unix

package endpoint

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A certificate or key path naming a FIFO (or a symlink to one) is refused
// at once with ErrTLSConfig: opening a FIFO for reading blocks until a writer
// comes, so a description could otherwise hang ParseServer / ParseClient
// forever.
func TestTLSFileFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "key.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	link := filepath.Join(dir, "link.pem")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	for _, desc := range []string{
		"tls:0:privateKey=" + Quote(fifo),
		"tls:0:privateKey=" + Quote(link),
		"tls:h:1:caCerts=" + Quote(fifo),
	} {
		done := make(chan error, 1)
		go func() {
			var err error
			if desc[4] == '0' {
				_, err = ParseServer(desc)
			} else {
				_, err = ParseClient(desc)
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrTLSConfig) {
				t.Errorf("%q: err = %v, want ErrTLSConfig", desc, err)
			}
		case <-time.After(5 * time.Second): // a bound, not a sleep: the parse must not block
			t.Errorf("%q: parsing blocked on the FIFO", desc)
			// Unblock the stuck open so that the goroutine ends.
			if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
				w.Close()
			}
			<-done
		}
	}
}
