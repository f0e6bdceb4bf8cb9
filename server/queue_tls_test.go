package server

import (
	"crypto/tls"
	"net"
	"sync"
	"testing"
)

// holdConn passes writes straight through until the first read returns
// data; from then on it keeps them until flush, so that the records a TLS
// client writes after the server's flight (its Finished, then application
// data) reach the server in one piece.
type holdConn struct {
	*net.TCPConn
	mu   sync.Mutex
	hold bool
	buf  []byte
}

func (h *holdConn) Read(p []byte) (int, error) {
	n, err := h.TCPConn.Read(p)
	if n > 0 {
		h.mu.Lock()
		h.hold = true
		h.mu.Unlock()
	}
	return n, err
}

func (h *holdConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hold {
		h.buf = append(h.buf, p...)
		return len(p), nil
	}
	return h.TCPConn.Write(p)
}

// flushAndCloseWrite sends what was held in one write, then a FIN.
func (h *holdConn) flushAndCloseWrite(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := h.TCPConn.Write(h.buf); err != nil {
		t.Fatal(err)
	}
	if err := h.TCPConn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
}

// TestQueuedTLSClientSentThenHungUp: a TLS client queued over MaxConns whose
// request came with its handshake's last flight, followed by a FIN, is served
// when its turn comes: the handshake read the request into the TLS
// connection's buffer, so the socket holds only the end of stream, and a
// hang-up check on the socket would drop the request.
func TestQueuedTLSClientSentThenHungUp(t *testing.T) {
	srvTLS, cliTLS := testTLS(t)
	cliTLS.MinVersion = tls.VersionTLS13 // the client's Finished is its last handshake record
	s := &Server{Factory: echoFactory(), MaxConns: 1, Overflow: QueueFIFO}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(tls.NewListener(l, srvTLS)) }()
	defer func() { s.Close(); <-done }()

	first, err := tls.Dial("tcp4", l.Addr().String(), cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, first, "first holds the only slot")

	raw := dial(t, l.Addr().String()).(*net.TCPConn)
	h := &holdConn{TCPConn: raw}
	second := tls.Client(h, cliTLS)
	if err := second.Handshake(); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Write([]byte("sent, then hung up\n")); err != nil {
		t.Fatal(err)
	}
	h.flushAndCloseWrite(t)
	waitFor(t, "the second client queued", func() bool { return s.Snapshot().Queued == 1 })

	first.Close() // its slot goes to the second client
	if got := string(readAll(t, second)); got != "sent, then hung up\n" {
		t.Errorf("queued TLS client got %q, want its request echoed", got)
	}
	if n := s.Snapshot().Closed["queue hangup"]; n != 0 {
		t.Errorf("%d connections closed as queue hangup, want 0", n)
	}
}
