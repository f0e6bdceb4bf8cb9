package endpoint

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// StdioAddr is the address of both ends of a stdio: connection over pipes
// or a terminal (Twisted's PipeAddress). Over a socket (inetd), the
// connection has the socket's addresses instead.
type StdioAddr struct{}

// Network returns "stdio".
func (StdioAddr) Network() string { return "stdio" }

// String returns "stdio".
func (StdioAddr) String() string { return "stdio" }

// stdioTaken is set once a stdio: listener took the process's standard
// input and output, which exist once per process.
var stdioTaken atomic.Bool

// listenStdio makes the stdio: listener: one connection, over the
// process's standard input and output.
func (s *Server) listenStdio() (net.Listener, error) {
	if s.ReusePort || s.Backlog != 0 || s.Mode != 0 || s.Lockfile || s.TLS != nil || len(s.Proxy) > 0 {
		return nil, s.errorf("type", fmt.Errorf("%w: stdio takes no listening options", ErrInvalidValue))
	}
	if !stdioTaken.CompareAndSwap(false, true) {
		return nil, s.errorf("type", fmt.Errorf("%w: standard input and output are taken by another stdio: listener", ErrAddressInUse))
	}
	c, err := stdioConn()
	if err != nil {
		stdioTaken.Store(false)
		return nil, s.errorf("type", err)
	}
	var addr net.Addr = StdioAddr{}
	if _, pipes := c.(*pipeConn); !pipes {
		addr = c.LocalAddr()
	}
	return &stdioListener{conn: c, addr: addr, done: make(chan struct{})}, nil
}

// stdioListener hands out its one connection, then blocks in Accept until
// it is closed.
type stdioListener struct {
	mu   sync.Mutex
	conn net.Conn // until the first Accept (or Close) takes it
	addr net.Addr
	done chan struct{}
	once sync.Once
}

// Accept returns the connection once; later calls wait for Close.
func (l *stdioListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.conn
	l.conn = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, &net.OpError{Op: "accept", Net: "stdio", Addr: l.addr, Err: net.ErrClosed}
}

// Close ends Accept; a connection not yet accepted is closed.
func (l *stdioListener) Close() error {
	l.once.Do(func() {
		l.mu.Lock()
		c := l.conn
		l.conn = nil
		l.mu.Unlock()
		if c != nil {
			c.Close()
		}
		close(l.done)
	})
	return nil
}

func (l *stdioListener) Addr() net.Addr { return l.addr }

// pipeConn is a connection over two files: standard input and output when
// they are pipes, a terminal or files.
type pipeConn struct {
	r, w *os.File
	// restore holds duplicates of the descriptors that were blocking
	// before the connection made them non-blocking: Close makes them
	// blocking again (the flag is shared with the parent), then closes
	// them. restoreW holds standard output's when it is a file of its own
	// (not standard input's terminal, whose flag the reads share): CloseWrite
	// restores it, as it closes standard output.
	mu       sync.Mutex
	restore  []int
	restoreW []int
	once     sync.Once
	wonce    sync.Once
}

func (c *pipeConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *pipeConn) Write(p []byte) (int, error) { return c.w.Write(p) }

// CloseWrite ends the output, as Twisted's loseWriteConnection on standard
// I/O does: standard output is closed, and the peer reads the end of the
// stream (nothing else holds the pipe: descriptor 1 is /dev/null), while
// standard input is still read.
func (c *pipeConn) CloseWrite() error {
	err := net.ErrClosed
	c.wonce.Do(func() {
		err = c.w.Close()
		c.mu.Lock()
		spare := c.restoreW
		c.restoreW = nil
		c.mu.Unlock()
		for _, fd := range spare {
			setBlocking(fd)
		}
	})
	return err
}

func (c *pipeConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		err = c.r.Close()
		if werr := c.CloseWrite(); err == nil && werr != net.ErrClosed {
			err = werr
		}
		// After the files' close, no read or write of them can wait in
		// a blocking call.
		c.mu.Lock()
		spare := append(c.restore, c.restoreW...)
		c.restore, c.restoreW = nil, nil
		c.mu.Unlock()
		for _, fd := range spare {
			setBlocking(fd)
		}
	})
	return err
}

func (c *pipeConn) LocalAddr() net.Addr  { return StdioAddr{} }
func (c *pipeConn) RemoteAddr() net.Addr { return StdioAddr{} }

func (c *pipeConn) SetDeadline(t time.Time) error {
	err := c.r.SetReadDeadline(t)
	if werr := c.w.SetWriteDeadline(t); err == nil {
		err = werr
	}
	return err
}

func (c *pipeConn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *pipeConn) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }
