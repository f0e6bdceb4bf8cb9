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

// Greeter is the SMTP-style protocol of one connection.
type Greeter struct {
	// TLS is the server configuration STARTTLS upgrades the connection
	// with.
	TLS    *tls.Config
	t      codec.FrameTransport
	secure bool
}

// ConnectionMade greets the client.
func (g *Greeter) ConnectionMade(t codec.FrameTransport) {
	g.t = t
	t.SendFrame([]byte("220 weft ESMTP ready"))
}

// FrameReceived answers one command line.
func (g *Greeter) FrameReceived(line []byte) {
	verb, arg, _ := bytes.Cut(line, []byte(" "))
	switch string(bytes.ToUpper(verb)) {
	case "EHLO", "HELO":
		if g.secure {
			g.t.SendFrame(fmt.Appendf(nil, "250 weft greets %s over TLS", arg))
			return
		}
		g.t.SendFrame(fmt.Appendf(nil, "250-weft greets %s", arg))
		g.t.SendFrame([]byte("250 STARTTLS"))
	case "STARTTLS":
		if g.secure {
			g.t.SendFrame([]byte("503 TLS already active"))
			return
		}
		g.t.SendFrame([]byte("220 Go ahead")) // sent in clear text
		if err := g.t.StartTLS(g.TLS); err != nil {
			g.t.SendFrame([]byte("454 TLS not available"))
			return
		}
		g.secure = true
	case "NOOP":
		g.t.SendFrame([]byte("250 OK"))
	case "QUIT":
		g.t.SendFrame([]byte("221 Bye"))
		g.t.LoseConnection()
	default:
		g.t.SendFrame([]byte("502 Command not implemented"))
	}
}

// ConnectionLost does nothing.
func (g *Greeter) ConnectionLost(error) {}

// Factory builds a Greeter per connection.
func Factory(cfg *tls.Config) weft.Factory {
	return weft.FactoryFunc(func(net.Addr) weft.Protocol {
		return codec.NewProtocol(codec.Line{MaxLength: 998}, &Greeter{TLS: cfg})
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
