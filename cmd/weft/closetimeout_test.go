package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/weftkit/weft/server"
)

// TestServeCloseTimeoutFlag: --close-timeout sets Server.CloseTimeout; its
// default is the server's, and 0 turns the bound off.
func TestServeCloseTimeoutFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, server.DefaultCloseTimeout},
		{[]string{"--close-timeout", "5s"}, 5 * time.Second},
		{[]string{"--close-timeout", "0"}, -1},
	} {
		f := parseServeFlags(t, tc.args)
		srv, err := f.server(context.Background(), "echo", io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if srv.CloseTimeout != tc.want {
			t.Errorf("%q: Server.CloseTimeout = %v, want %v", tc.args, srv.CloseTimeout, tc.want)
		}
	}
}

// parseServeFlags parses serve's flags as the command does.
func parseServeFlags(t *testing.T, args []string) *serveFlags {
	t.Helper()
	var f serveFlags
	if err := f.flagSet(io.Discard).Parse(args); err != nil {
		t.Fatal(err)
	}
	return &f
}

// TestServeKeepAliveFlag: --keepalive sets Server.KeepAlive; its default is
// Go's 15 s, 0 turns keep-alive off, and a negative value is a usage error.
func TestServeKeepAliveFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 15 * time.Second},
		{[]string{"--keepalive", "1m"}, time.Minute},
		{[]string{"--keepalive", "0"}, -1},
	} {
		f := parseServeFlags(t, tc.args)
		srv, err := f.server(context.Background(), "echo", io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if srv.KeepAlive != tc.want {
			t.Errorf("%q: Server.KeepAlive = %v, want %v", tc.args, srv.KeepAlive, tc.want)
		}
	}
	f := parseServeFlags(t, []string{"--keepalive", "-1s"})
	if _, err := f.server(context.Background(), "echo", io.Discard); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--keepalive") {
		t.Errorf("--keepalive -1s: %v, want a usage error naming --keepalive", err)
	}
}

// TestServeEngineFlag: --engine epoll (the default) leaves the Server its
// own readiness engine (NoEngine false, Engine nil); --engine goroutine
// sets NoEngine.
func TestServeEngineFlag(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		noEngine bool
	}{
		{nil, false},
		{[]string{"--engine", "epoll"}, false},
		{[]string{"--engine", "goroutine"}, true},
	} {
		f := parseServeFlags(t, tc.args)
		srv, err := f.server(context.Background(), "echo", io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if srv.NoEngine != tc.noEngine || srv.Engine != nil {
			t.Errorf("%q: Server.NoEngine = %v, Engine = %v; want %v, nil", tc.args, srv.NoEngine, srv.Engine, tc.noEngine)
		}
	}
}
