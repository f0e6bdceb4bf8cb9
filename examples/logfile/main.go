// Command logfile is a server whose Factory owns a resource: Start opens the
// log file before the first listener accepts, Stop closes it after the last
// connection ended (Twisted's startFactory / stopFactory). Each line a client
// sends is appended to the file; a last line without its newline is appended
// too, when the connection ends.
//
// Nothing is lost silently: when the file cannot be written (a full disk,
// say), the error is logged and the client's connection is closed with it as
// the reason, so the client sees that its lines are no longer taken; a line
// over codec.DefaultMaxLineLength (16 KiB) is logged as such and closes the
// connection too.
//
//	go run ./examples/logfile -listen 127.0.0.1:8090 -file /tmp/weft.log
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/server"
)

// LogFactory appends every line received on any connection to Path.
type LogFactory struct {
	// Path is the log file, created if missing and appended to.
	Path string
	// ErrorLog receives the errors: failed writes and over-long lines.
	// Nil means the standard logger.
	ErrorLog *log.Logger

	mu sync.Mutex
	f  *os.File
}

// Start opens the file (weft.Starter).
func (lf *LogFactory) Start(context.Context) error {
	f, err := os.OpenFile(lf.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	lf.mu.Lock()
	lf.f = f
	lf.mu.Unlock()
	return nil
}

// Stop closes the file (weft.Stopper).
func (lf *LogFactory) Stop() {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f != nil {
		if err := lf.f.Close(); err != nil {
			lf.logf("logfile: closing %s: %v", lf.Path, err)
		}
		lf.f = nil
	}
}

func (lf *LogFactory) logf(format string, args ...any) {
	if lf.ErrorLog != nil {
		lf.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// append writes line and a newline to the file, in one write so that lines
// of different connections never interleave.
func (lf *LogFactory) append(line []byte) error {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return fmt.Errorf("logfile: %s is not open", lf.Path)
	}
	if _, err := lf.f.Write(append(append([]byte(nil), line...), '\n')); err != nil {
		return fmt.Errorf("logfile: writing %s: %w", lf.Path, err)
	}
	return nil
}

// BuildProtocol implements weft.Factory.
func (lf *LogFactory) BuildProtocol(net.Addr) weft.Protocol {
	l := &logger{lf: lf}
	return &logConn{LineReceiver: codec.NewLineReceiver(l), l: l}
}

// logConn is the LineReceiver of a connection. It keeps the connection's own
// transport, through which a close carries its reason, and logs the bytes
// after the last newline when the connection ends.
type logConn struct {
	*codec.LineReceiver
	l *logger
}

func (c *logConn) ConnectionMade(t weft.Transport) {
	c.l.raw = t
	c.LineReceiver.ConnectionMade(t)
}

// ConnectionLost logs a last line that had no newline (the receiver would
// drop it, reporting codec.ErrTruncated), then ends the handler.
func (c *logConn) ConnectionLost(reason error) {
	if !c.l.failed {
		rest := c.ClearLineBuffer()
		for len(rest) > 0 && !c.l.failed {
			var line []byte
			line, rest, _ = bytes.Cut(rest, []byte("\n"))
			c.l.LineReceived(bytes.TrimSuffix(line, []byte("\r")))
		}
	}
	c.LineReceiver.ConnectionLost(reason)
}

// logger is the LineHandler of a connection.
type logger struct {
	lf     *LogFactory
	raw    weft.Transport
	failed bool // a write failed or a line was too long: nothing more is logged
}

func (l *logger) ConnectionMade(*codec.LineReceiver) {}

// LineReceived appends line to the file; if that fails, the error is logged
// and the connection closed with it.
func (l *logger) LineReceived(line []byte) {
	if l.failed {
		return
	}
	if err := l.lf.append(line); err != nil {
		l.fail(err)
	}
}

// LineLengthExceeded closes the connection: the rest of the long line cannot
// be told apart from the lines after it.
func (l *logger) LineLengthExceeded([]byte) {
	l.fail(fmt.Errorf("%w: line over %d bytes", codec.ErrFrameTooLarge, codec.DefaultMaxLineLength))
}

func (l *logger) fail(err error) {
	l.failed = true
	l.lf.logf("%v; closing the connection from %v", err, l.raw.RemoteAddr())
	weft.LoseConnectionWithReason(l.raw, err)
}

func (l *logger) ConnectionLost(error) {}

func main() {
	addr := flag.String("listen", "127.0.0.1:8090", "address to listen on")
	path := flag.String("file", "weft.log", "log file")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening on", ln.Addr())
	srv := &server.Server{Factory: &LogFactory{Path: *path}}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx, 5*time.Second, ln); err != nil { // then drains for up to 5 s
		log.Fatal(err)
	}
}
