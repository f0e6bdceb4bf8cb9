package endpoint_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/weftkit/weft/endpoint"
	"github.com/weftkit/weft/internal/testenv"
)

// biCase is a case of testenv.RunBadInput.
type biCase struct {
	Name string
	Fn   func() error
	Want string
}

// TestBadInputEndpoint: parse and open entry points given hostile strings and
// Server / Client values built directly. Before the fix: Dial and Listen on a
// nil *Client / *Server, and Error on a nil *Error or a zero Error, panicked
// with "runtime error: invalid memory address or nil pointer dereference";
// a Client with Network "udp" dialled UDP ("ok"), one with Port 0 dialled
// ":0" ("connect: connection refused"), a negative Timeout meant 30 s; a
// Server with Mode 0o7777777 or Backlog -5 listened ("ok").
func TestBadInputEndpoint(t *testing.T) {
	bg := context.Background()
	cancelled, cancel := context.WithCancel(bg)
	cancel()
	closeL := func(l net.Listener, err error) error {
		if l != nil {
			l.Close()
		}
		return err
	}
	dialC := func(c *endpoint.Client, ctx context.Context) func() error {
		return func() error {
			conn, err := c.Dial(ctx)
			if conn != nil {
				conn.Close()
			}
			return err
		}
	}
	listenS := func(s *endpoint.Server, ctx context.Context) func() error {
		return func() error { l, err := s.Listen(ctx); return closeL(l, err) }
	}
	dir := t.TempDir()
	cases := []biCase{
		{"ParseClient empty", func() error { _, err := endpoint.ParseClient(""); return err }, "err: endpoint: : type: syntax error: empty description"},
		{"ParseServer empty", func() error { _, err := endpoint.ParseServer(""); return err }, "err: endpoint: : type: syntax error: empty description"},
		{"ParseClient colons", func() error { _, err := endpoint.ParseClient(":::::"); return err }, "err: endpoint: :::::: type: unknown endpoint type \"\" (client types: tcp, un"},
		{"ParseServer colons", func() error { _, err := endpoint.ParseServer(":::::"); return err }, "err: endpoint: :::::: type: unknown endpoint type \"\" (server types: tcp, tc"},
		{"ParseClient huge", func() error { _, err := endpoint.ParseClient("tcp:" + strings.Repeat("a", 1<<20) + ":80"); return err }, "ok"},
		{"ParseServer huge port", func() error { _, err := endpoint.ParseServer("tcp:99999999999999999999999"); return err }, "err: endpoint: tcp:99999999999999999999999: port: invalid value: 9999999999"},
		{"ParseServer neg port", func() error { _, err := endpoint.ParseServer("tcp:-1"); return err }, "err: endpoint: tcp:-1: port: invalid value: -1 out of range [0, 65535]"},
		{"ParseServer neg backlog", func() error { _, err := endpoint.ParseServer("tcp:0:backlog=-1"); return err }, "err: endpoint: tcp:0:backlog=-1: backlog: invalid value: -1 out of range [0"},
		{"ParseServer huge backlog", func() error { _, err := endpoint.ParseServer("tcp:0:backlog=99999999999999999999"); return err }, "err: endpoint: tcp:0:backlog=99999999999999999999: backlog: invalid value: "},
		{"ParseServer mode huge", func() error { _, err := endpoint.ParseServer("unix:/tmp/x:mode=777777777777"); return err }, "err: endpoint: unix:/tmp/x:mode=777777777777: mode: invalid value: 77777777"},
		{"ParseServer unix empty", func() error { _, err := endpoint.ParseServer("unix:"); return err }, "err: endpoint: unix:: address: invalid value: empty socket path"},
		{"ParseClient unix empty", func() error { _, err := endpoint.ParseClient("unix:"); return err }, "err: endpoint: unix:: path: invalid value: empty socket path"},
		{"ParseClient neg timeout", func() error { _, err := endpoint.ParseClient("tcp:localhost:80:timeout=-1"); return err }, "err: endpoint: tcp:localhost:80:timeout=-1: timeout: invalid value: \"-1\" mu"},
		{"ParseClient huge timeout", func() error {
			_, err := endpoint.ParseClient("tcp:localhost:80:timeout=99999999999999999999")
			return err
		}, "err: endpoint: tcp:localhost:80:timeout=99999999999999999999: timeout: inva"},
		{"ParseClient NaN timeout", func() error { _, err := endpoint.ParseClient("tcp:localhost:80:timeout=NaN"); return err }, "err: endpoint: tcp:localhost:80:timeout=NaN: timeout: invalid value: \"NaN\" "},
		{"ParseClient Inf timeout", func() error { _, err := endpoint.ParseClient("tcp:localhost:80:timeout=Inf"); return err }, "err: endpoint: tcp:localhost:80:timeout=Inf: timeout: invalid value: \"Inf\" "},
		{"ParseClient 1e300 timeout", func() error { _, err := endpoint.ParseClient("tcp:localhost:80:timeout=1e300"); return err }, "err: endpoint: tcp:localhost:80:timeout=1e300: timeout: invalid value: \"1e3"},
		{"ParseClient port 0", func() error { _, err := endpoint.ParseClient("tcp:localhost:0"); return err }, "err: endpoint: tcp:localhost:0: port: invalid value: 0 out of range [1, 655"},
		{"ParseClient port 65536", func() error { _, err := endpoint.ParseClient("tcp:localhost:65536"); return err }, "err: endpoint: tcp:localhost:65536: port: invalid value: 65536 out of range"},
		{"ParseClient trailing backslash", func() error { _, err := endpoint.ParseClient("tcp:a:1\\"); return err }, "err: endpoint: tcp:a:1\\: syntax error: trailing backslash"},
		{"ParseServer nul", func() error { _, err := endpoint.ParseServer("unix:/tmp/a\x00b"); return err }, "err: endpoint: unix:/tmp/a\x00b: address: invalid value: socket path \"/tmp/a\\x"},
		{"ParseServer proxy bad", func() error { _, err := endpoint.ParseServer("tcp:0:proxy=,,,"); return err }, "err: endpoint: tcp:0:proxy=,,,: proxy: invalid value: \"\" is not a CIDR pref"},
		{"ParseServer proxy empty", func() error { _, err := endpoint.ParseServer("tcp:0:proxy="); return err }, "err: endpoint: tcp:0:proxy=: proxy: invalid value: \"\" is not a CIDR prefix "},
		{"ParseServer interface empty", func() error { _, err := endpoint.ParseServer("tcp:0:interface="); return err }, "ok"},
		{"ParseServer tls no key", func() error { _, err := endpoint.ParseServer("tls:0"); return err }, "err: endpoint: tls:0: privateKey: wrong arguments: missing (tls needs priva"},
		{"ParseServer tls missing file", func() error { _, err := endpoint.ParseServer("tls:0:privateKey=/nonexistent"); return err }, "err: endpoint: tls:0:privateKey=/nonexistent: privateKey: TLS configuration: s"},
		{"ParseServer tls key dir", func() error { _, err := endpoint.ParseServer("tls:0:privateKey=" + dir); return err }, "err: endpoint: tls:0:privateKey=" + dir + ": privateKey: TLS configuration"},
		{"ParseServer tls dev zero", func() error { _, err := endpoint.ParseServer("tls:0:privateKey=/dev/zero"); return err }, "err: endpoint: tls:0:privateKey=/dev/zero: privateKey: TLS configuration: /dev"},
		{"ParseClient tls cadir dev", func() error { _, err := endpoint.ParseClient("tls:h:1:caCertsDir=/dev"); return err }, "err: endpoint: tls:h:1:caCertsDir=/dev: caCertsDir: TLS configuration: dire"},
		{"ParseClient tls ca dev zero", func() error { _, err := endpoint.ParseClient("tls:h:1:caCerts=/dev/zero"); return err }, "err: endpoint: tls:h:1:caCerts=/dev/zero: caCerts: TLS configuration: /dev/"},
		{"Dial empty", func() error { _, err := endpoint.Dial(bg, ""); return err }, "err: endpoint: : type: syntax error: empty description"},
		{"Listen cancelled", func() error {
			l, _, err := endpoint.Listen(cancelled, "tcp:0:interface=127.0.0.1")
			return closeL(l, err)
		}, "ok"},
		{"Listen empty", func() error { l, _, err := endpoint.Listen(bg, ""); return closeL(l, err) }, "err: endpoint: : type: syntax error: empty description"},
		{"Client zero Dial", dialC(&endpoint.Client{}, bg), "err: endpoint: : type: unknown endpoint type \"\""},
		{"Client nil Dial", dialC((*endpoint.Client)(nil), bg), "err: endpoint: : Client: wrong arguments: nil *Client"},
		{"Client tcp no host", dialC(&endpoint.Client{Type: "tcp"}, bg), "err: endpoint: : port: invalid value: 0 out of range [1, 65535]"},
		{"Client tcp neg port", dialC(&endpoint.Client{Type: "tcp", Host: "127.0.0.1", Port: -1}, bg), "err: endpoint: : port: invalid value: -1 out of range [1, 65535]"},
		{"Client tcp huge port", dialC(&endpoint.Client{Type: "tcp", Host: "127.0.0.1", Port: 1 << 30}, bg), "err: endpoint: : port: invalid value: 1073741824 out of range [1, 65535]"},
		{"Client neg timeout", dialC(&endpoint.Client{Type: "tcp", Host: "127.0.0.1", Port: 1, Timeout: -1}, bg), "err: endpoint: : timeout: invalid value: -1ns is negative"},
		{"Client bad type", dialC(&endpoint.Client{Type: "bogus", Host: "127.0.0.1", Port: 1}, bg), "err: endpoint: : type: unknown endpoint type \"bogus\""},
		{"Client tls nil TLS", dialC(&endpoint.Client{Type: "tls", Host: "127.0.0.1", Port: 1}, bg), "err: endpoint: dial : dial tcp 127.0.0.1:1: connect: connection refused"},
		{"Client unix empty", dialC(&endpoint.Client{Type: "unix"}, bg), "err: endpoint: : path: invalid value: empty socket path"},
		{"Client bad network", dialC(&endpoint.Client{Type: "tcp", Network: "udp", Host: "127.0.0.1", Port: 1}, bg), "err: endpoint: : network: invalid value: network \"udp\" is not tcp, tcp4 or "},
		{"Client bad bind", dialC(&endpoint.Client{Type: "tcp", Host: "127.0.0.1", Port: 1, BindAddress: "bogus"}, bg), "err: endpoint: : bindAddress: invalid value: \"bogus\" is not an IP address"},
		{"Server zero Listen", listenS(&endpoint.Server{}, bg), "err: endpoint: : type: unknown endpoint type \"\""},
		{"Server nil Listen", listenS((*endpoint.Server)(nil), bg), "err: endpoint: : Server: wrong arguments: nil *Server"},
		{"Server bad type", listenS(&endpoint.Server{Type: "bogus", Address: "127.0.0.1:0"}, bg), "err: endpoint: : type: unknown endpoint type \"bogus\""},
		{"Server tcp no addr", listenS(&endpoint.Server{Type: "tcp", Address: "127.0.0.1:0", Backlog: -5}, bg), "err: endpoint: : backlog: invalid value: -5 is negative"},
		{"Server tls nil TLS", listenS(&endpoint.Server{Type: "tls", Address: "127.0.0.1:0"}, bg), "err: endpoint: : TLS: TLS configuration: Server.TLS is nil"},
		{"Server unix empty", listenS(&endpoint.Server{Type: "unix"}, bg), "err: endpoint: : listen: endpoint: : address: invalid value: empty socket p"},
		{"Server unix bad mode", listenS(&endpoint.Server{Type: "unix", Address: dir + "/s", Mode: 0o7777777}, bg), "err: endpoint: : listen: endpoint: : mode: invalid value: 07777777 has bits"},
		{"Server unix abstract mode", listenS(&endpoint.Server{Type: "unix", Address: "@weftbi", Mode: 0o600}, bg), "err: endpoint: : listen: endpoint: : mode: invalid value: an abstract socke"},
		{"Server bad network", listenS(&endpoint.Server{Type: "tcp", Network: "udp", Address: "127.0.0.1:0"}, bg), "err: endpoint: : network: invalid value: network \"udp\" is not tcp, tcp4 or "},
		{"Server huge backlog", listenS(&endpoint.Server{Type: "tcp", Address: "127.0.0.1:0", Backlog: 1 << 30}, bg), "ok"},
		{"Quote empty", func() error {
			if endpoint.Quote("") != "" {
				return fmt.Errorf("not empty")
			}
			return nil
		}, "ok"},
		{"Error nil", func() error {
			var e *endpoint.Error
			return fmt.Errorf("%s %v", e.Error(), e.Unwrap())
		}, "err: endpoint: <nil *Error> <nil>"},
		{"Error zero", func() error { var e endpoint.Error; return errors.New(e.Error()) }, "err: endpoint: : <nil reason>"},
	}
	testenv.RunBadInput(t, cases)
}
