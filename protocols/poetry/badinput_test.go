package poetry_test

import (
	"context"
	"errors"
	"math"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/internal/testenv"
	"github.com/weftkit/weft/protocols/poetry"
)

// biCase is a case of testenv.RunBadInput.
type biCase struct {
	Name string
	Fn   func() error
	Want string
}

// biPoemServer serves poem on a loopback listener, once per connection, for
// the test's duration; it returns the client endpoint.
func biPoemServer(t *testing.T, poem string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(poem))
			c.Close()
		}
	}()
	return "tcp:" + l.Addr().String()
}

// biResults turns Get's results into an error: the first one's, or nil.
func biResults(res []poetry.Result) error {
	for _, r := range res {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// TestBadInputPoetry: Server, Client, GetPoetry and ReadFile with hostile or
// degenerate values. Before the fix: Validate and BuildProtocol on a nil
// *Server panicked ("runtime error: invalid memory address or nil pointer
// dereference"), and Get with a nil context, or on a nil *Client, panicked
// on its download goroutine, crashing the program ("panic: cannot create
// context from nil parent").
func TestBadInputPoetry(t *testing.T) {
	bg := context.Background()
	ep := biPoemServer(t, "a poem\n")
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	validate := func(s poetry.Server) func() error { return func() error { return s.Validate() } }
	build := func(s *poetry.Server) func() error {
		return func() error {
			if p := s.BuildProtocol(nil); p == nil {
				return errors.New("refused")
			}
			return nil
		}
	}
	get := func(c *poetry.Client, ctx context.Context, eps ...string) func() error {
		return func() error { return biResults(c.Get(ctx, eps...)) }
	}
	cases := []biCase{
		// Server.
		{"zero Server", validate(poetry.Server{}), "ok"},
		{"neg Chunk", validate(poetry.Server{Chunk: -1}), "err: poetry: invalid configuration: Server.Chunk -1 is negative"},
		{"neg Delay", validate(poetry.Server{Delay: -1}), "err: poetry: invalid configuration: Server.Delay -1ns is negative"},
		{"neg StallTimeout", validate(poetry.Server{StallTimeout: -1}), "ok"},
		{"huge Chunk", validate(poetry.Server{Chunk: math.MaxInt, Delay: math.MaxInt64}), "ok"},
		{"nil Server Validate", func() error { var s *poetry.Server; return s.Validate() }, "err: poetry: invalid configuration: nil *Server"},
		{"nil Server BuildProtocol", build(nil), "err: refused"},
		{"invalid Server BuildProtocol", build(&poetry.Server{Chunk: -1}), "err: refused"},
		{"zero Server BuildProtocol", build(&poetry.Server{}), "ok"},
		{"zero Server protocol wrong order", func() error {
			p := (&poetry.Server{Poem: []byte("x")}).BuildProtocol(nil)
			p.DataReceived([]byte("x"))
			p.ConnectionLost(nil)
			p.ConnectionLost(weft.ErrAborted)
			return nil
		}, "ok"},

		// Client.
		{"Get no endpoints", get(&poetry.Client{}, bg), "ok"},
		{"Get", get(&poetry.Client{}, bg, ep), "ok"},
		{"Get empty endpoint", get(&poetry.Client{}, bg, ""), "err: endpoint: : type: syntax error: empty description"},
		{"Get bad endpoint", get(&poetry.Client{}, bg, "tcp:"), "err: endpoint: tcp:"},
		{"Get bad port", get(&poetry.Client{}, bg, "tcp:127.0.0.1:99999"), "err: endpoint: tcp:127.0.0.1:99999"},
		{"neg MaxPoem", get(&poetry.Client{MaxPoem: -1}, bg, ep), "err: poetry: invalid configuration: Client.MaxPoem -1 is negative"},
		{"tiny MaxPoem", get(&poetry.Client{MaxPoem: 1}, bg, ep), "err: poetry: " + ep + ": poetry: poem too large: more than 1 bytes"},
		{"huge MaxPoem", get(&poetry.Client{MaxPoem: math.MaxInt}, bg, ep), "ok"},
		{"neg IdleTimeout", get(&poetry.Client{IdleTimeout: -1}, bg, ep), "err: poetry: invalid configuration: Client.IdleTimeout -1ns is negative"},
		{"huge IdleTimeout", get(&poetry.Client{IdleTimeout: math.MaxInt64}, bg, ep), "ok"},
		{"nil ctx", func() error {
			//lint:ignore SA1012 a nil context is the bad input under test
			return biResults((&poetry.Client{}).Get(nil, ep)) //nolint:staticcheck
		}, "err: poetry: invalid configuration: nil context.Context"},
		{"nil Client", get(nil, bg, ep), "ok"},
		{"cancelled ctx", func() error {
			ctx, cancel := context.WithCancel(bg)
			cancel()
			return biResults((&poetry.Client{}).Get(ctx, ep))
		}, "err: "},
		{"GetPoetry no endpoints", func() error { return biResults(poetry.GetPoetry(bg)) }, "ok"},

		// ReadFile.
		{"ReadFile empty path", func() error { _, err := poetry.ReadFile(""); return err }, "err: open : no such file or directory"},
		{"ReadFile dir", func() error { _, err := poetry.ReadFile(dir); return err }, "err: poetry: reading " + dir + ": read " + dir + ": is a directory"},
		{"ReadFile empty file", func() error { _, err := poetry.ReadFile(empty); return err }, "ok"},
		{"ReadFile /dev/zero", func() error { _, err := poetry.ReadFile("/dev/zero"); return err }, "err: poetry: poem too large: /dev/zero is larger than 67108864 bytes"},
	}
	testenv.RunBadInput(t, cases)
}
