// Command starttls is a minimal SMTP-style greeter that upgrades its
// connections to TLS in the middle of the conversation, as SMTP, IMAP and XMPP
// do:
//
//	S: 220 weft ESMTP ready
//	C: EHLO client
//	S: 250-weft greets client
//	S: 250 STARTTLS
//	C: STARTTLS
//	S: 220 Go ahead
//	   ... TLS handshake; the rest of the session is encrypted ...
//	C: EHLO client
//	S: 250 weft greets client over TLS
//	C: QUIT
//	S: 221 Bye
//
// A command line over 998 bytes gets "500 Line too long" and the connection
// is closed.
//
// It serves until interrupted:
//
//	starttls -listen tcp:2525:interface=127.0.0.1 -cert cert.pem -key key.pem
//
// and `openssl s_client -starttls smtp -connect 127.0.0.1:2525` talks to it.
// Without -cert it makes a self-signed certificate for 127.0.0.1 and localhost.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/endpoint"
	"github.com/weftkit/weft/server"
)

// maxLine is the longest command line accepted, without its CRLF (RFC 5321's
// 1000-octet text line). A longer one gets "500 Line too long" and the
// connection is closed: the rest of the line could not be told apart from
// the next command.
const maxLine = 998

// maxDomain is the longest EHLO/HELO argument echoed back (RFC 1035's 255).
const maxDomain = 255

// Greeter is the SMTP-style protocol of one connection (a codec.LineHandler).
type Greeter struct {
	// TLS is the server configuration STARTTLS upgrades the connection
	// with.
	TLS    *tls.Config
	r      *codec.LineReceiver
	raw    weft.Transport // the connection's own: a close through it carries a reason
	secure bool
	closed bool
}

// ConnectionMade greets the client.
func (g *Greeter) ConnectionMade(r *codec.LineReceiver) {
	g.r = r
	g.send("220 weft ESMTP ready")
}

func (g *Greeter) send(line string) { _ = g.r.SendLine([]byte(line)) }

// LineReceived answers one command line.
func (g *Greeter) LineReceived(line []byte) {
	if g.closed {
		return
	}
	verb, arg, _ := bytes.Cut(line, []byte(" "))
	switch string(bytes.ToUpper(verb)) {
	case "EHLO", "HELO":
		if len(arg) > maxDomain {
			g.send("501 Domain name too long")
			return
		}
		if g.secure {
			g.send(fmt.Sprintf("250 weft greets %s over TLS", arg))
			return
		}
		g.send(fmt.Sprintf("250-weft greets %s", arg))
		g.send("250 STARTTLS")
	case "STARTTLS":
		if g.secure {
			g.send("503 TLS already active")
			return
		}
		g.send("220 Go ahead") // sent in clear text
		if err := g.r.Transport().StartTLS(g.TLS); err != nil {
			g.send("454 TLS not available")
			return
		}
		g.secure = true
	case "NOOP":
		g.send("250 OK")
	case "QUIT":
		g.send("221 Bye")
		g.closed = true
		g.r.Transport().LoseConnection()
	default:
		g.send("502 Command not implemented")
	}
}

// LineLengthExceeded answers a line over maxLine with "500 Line too long",
// then closes the connection (reason codec.ErrFrameTooLarge).
func (g *Greeter) LineLengthExceeded([]byte) {
	g.send("500 Line too long")
	g.closed = true
	weft.LoseConnectionWithReason(g.raw, fmt.Errorf("%w: command line over %d bytes", codec.ErrFrameTooLarge, maxLine))
}

// ConnectionLost does nothing.
func (g *Greeter) ConnectionLost(error) {}

// greeterConn is the LineReceiver of a Greeter, handing it the connection's
// own transport.
type greeterConn struct {
	*codec.LineReceiver
	g *Greeter
}

func (c *greeterConn) ConnectionMade(t weft.Transport) {
	c.g.raw = t
	c.LineReceiver.ConnectionMade(t)
}

// Factory builds a Greeter per connection.
func Factory(cfg *tls.Config) weft.Factory {
	return weft.FactoryFunc(func(net.Addr) weft.Protocol {
		g := &Greeter{TLS: cfg}
		r := codec.NewLineReceiver(g)
		r.MaxLength = maxLine
		return &greeterConn{LineReceiver: r, g: g}
	})
}

func main() {
	listen := flag.String("listen", "tcp:2525:interface=127.0.0.1", "endpoint to serve on")
	certFile := flag.String("cert", "", "PEM certificate (default: a self-signed one)")
	keyFile := flag.String("key", "", "PEM private key")
	flag.Parse()
	if err := run(*listen, *certFile, *keyFile, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "starttls:", err)
		os.Exit(1)
	}
}

func run(listen, certFile, keyFile string, out *os.File) error {
	var cert tls.Certificate
	var err error
	if certFile != "" {
		cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	} else {
		cert, err = selfSigned()
	}
	if err != nil {
		return err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv := &server.Server{Factory: Factory(cfg)}
	// On Linux the readiness engine serves the connections; one that asks
	// for STARTTLS leaves it for a goroutine of its own. Elsewhere there
	// is none, and each connection has a goroutine.
	if e, err := weft.NewEngine(); err == nil {
		defer e.Close() // after Shutdown
		srv.Engine = e
	}
	ep, err := endpoint.ParseServer(listen)
	if err != nil {
		return err
	}
	l, serve, err := srv.OpenEndpoint(ep)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "listening on %s %s\n", l.Addr().Network(), l.Addr())
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
