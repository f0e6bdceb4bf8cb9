package server

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// madeBlocker writes a greeting in ConnectionMade after entered is sent and
// wait is closed, and says goodbye in its Shutdown hook.
type madeBlocker struct {
	t       weft.Transport
	entered chan<- struct{}
	wait    <-chan struct{}
}

func (p *madeBlocker) ConnectionMade(t weft.Transport) {
	p.t = t
	p.entered <- struct{}{}
	<-p.wait
	t.Write([]byte("hello\n"))
}
func (p *madeBlocker) DataReceived([]byte)  {}
func (p *madeBlocker) ConnectionLost(error) {}
func (p *madeBlocker) Shutdown()            { p.t.Write([]byte("bye\n")) }

// shutSignal closes told in its Shutdown hook.
type shutSignal struct {
	echo
	told chan struct{}
}

func (p *shutSignal) ConnectionMade(t weft.Transport) { p.t = t }
func (p *shutSignal) Shutdown()                       { close(p.told); p.t.LoseConnection() }

// TestShutdownDuringConnectionMadeNetConn: a connection (accepted as a
// net.Conn) whose ConnectionMade is running when Shutdown begins is shut
// down gracefully as the docs promise for running connections — the
// greeting, the Shutdown hook's goodbye, then EOF — as on the descriptor
// path (TestShutdownDuringConnectionMade): Shutdown did not close its socket
// under it as if it were still handshaking.
func TestShutdownDuringConnectionMadeNetConn(t *testing.T) {
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) {
			// MaxConns: the net.Conn path on the engine too.
			s := &Server{Engine: engine(t), MaxConns: 10}
			told := make(chan struct{})
			entered := make(chan struct{}, 1)
			var n atomic.Int32
			s.Factory = weft.FactoryFunc(func(net.Addr) weft.Protocol {
				if n.Add(1) == 1 {
					return &shutSignal{told: told}
				}
				// Returns once Shutdown has told the running
				// connections: after it closed the handshaking ones.
				return &madeBlocker{entered: entered, wait: told}
			})
			addr := serve(t, s)
			a := dial(t, addr)
			defer a.Close()
			waitFor(t, "first connection running", func() bool { return s.Len() == 1 })
			c := dial(t, addr)
			defer c.Close()
			select {
			case <-entered:
			case <-time.After(5 * time.Second):
				t.Fatal("no ConnectionMade")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- s.Shutdown(ctx) }()
			if got := string(readAll(t, c)); got != "hello\nbye\n" {
				t.Errorf("client got %q, want the greeting and the goodbye", got)
			}
			if err := <-errc; err != nil {
				t.Errorf("Shutdown = %v", err)
			}
			if closed := s.Snapshot().Closed; closed["clean"] != 2 {
				t.Errorf("closed %v, want two clean closes", closed)
			}
		})
	}
}
