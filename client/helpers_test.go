package client

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/weftkit/weft"
)

// events is a concurrency-safe log of what hooks and protocols saw.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(format string, v ...any) {
	e.mu.Lock()
	e.log = append(e.log, fmt.Sprintf(format, v...))
	e.mu.Unlock()
}

func (e *events) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.log, ", ")
}

func (e *events) snapshot() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.log...)
}

// hook wires r's hooks to ev.
func hook(r *Reconnecting, ev *events) {
	r.OnConnecting = func(attempt int) { ev.add("connecting %d", attempt) }
	r.OnConnectFailed = func(err error, attempt int, next time.Duration) {
		ev.add("failed %d next %v", attempt, next)
	}
	r.OnConnectionLost = func(reason error, next time.Duration) { ev.add("lost %v next %v", reason, next) }
}

// recProto records its callbacks in ev; the protocols made are numbered.
type recProto struct {
	ev *events
	n  int
	t  weft.Transport
}

func (p *recProto) ConnectionMade(t weft.Transport) { p.t = t; p.ev.add("made %d", p.n) }
func (p *recProto) DataReceived(data []byte)        { p.ev.add("data %d %q", p.n, data) }
func (p *recProto) ConnectionLost(reason error)     { p.ev.add("connectionLost %d %v", p.n, reason) }

// recFactory builds numbered recProtos.
type recFactory struct {
	ev *events
	mu sync.Mutex
	n  int
}

func (f *recFactory) BuildProtocol(net.Addr) weft.Protocol {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return &recProto{ev: f.ev, n: f.n}
}

// nopProto does nothing.
type nopProto struct{}

func (nopProto) ConnectionMade(weft.Transport) {}
func (nopProto) DataReceived([]byte)           {}
func (nopProto) ConnectionLost(error)          {}

var nopFactory = weft.FactoryFunc(func(net.Addr) weft.Protocol { return nopProto{} })

type weftProto = weft.Protocol

// weftFactory adapts a constructor to a Factory.
func weftFactory(f func() weftProto) weft.Factory {
	return weft.FactoryFunc(func(net.Addr) weft.Protocol { return f() })
}

// writer writes data when connected and records how it ended.
type writer struct {
	data []byte
	ev   *events
}

func (w *writer) ConnectionMade(t weft.Transport) { t.Write(w.data) }
func (w *writer) DataReceived([]byte)             {}
func (w *writer) ConnectionLost(reason error)     { w.ev.add("connectionLost %v", reason) }
