package codec_test

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/internal/testenv"
)

// echoServer serves a framed echo with c on 127.0.0.1:0 until the test ends.
func echoServer(t *testing.T, c codec.Codec, opts weft.Options) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []*weft.Conn
	wg.Go(func() {
		for range 100 { // bounded: the client makes a few connections
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conn := weft.NewConn(nc, codec.NewProtocol(c, &echo{lost: make(chan error, 1)}), &opts)
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() { _ = conn.Serve() })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close(weft.ErrServerShutdown)
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// Twisted's own LineReceiver, NetstringReceiver and Int32StringReceiver
// exchange frames of 0, 1 and limit bytes with weft echo servers, then send
// one frame over the limit (the server closes that connection) and check the
// server still serves.
// Both engines serve.
func TestInteropTwisted(t *testing.T) {
	py := testenv.Twisted(t)
	engines(t, func(t *testing.T, opts weft.Options) { interopTwisted(t, py, opts) })
}

func interopTwisted(t *testing.T, py string, opts weft.Options) {
	const limit = 1000
	ports := []int{
		echoServer(t, codec.Line{MaxLength: limit}, opts),
		echoServer(t, codec.Netstring{MaxLength: limit}, opts),
		echoServer(t, codec.LengthPrefix{Size: 4, MaxLength: limit}, opts),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"testdata/twisted_client.py"}
	for _, p := range ports {
		args = append(args, strconv.Itoa(p))
	}
	out, err := exec.CommandContext(ctx, py, append(args, strconv.Itoa(limit))...).CombinedOutput()
	t.Logf("Twisted client:\n%s", out)
	if err != nil {
		t.Fatalf("Twisted client failed: %v", err)
	}
	for _, name := range []string{"LineReceiver", "NetstringReceiver", "Int32StringReceiver"} {
		if !strings.Contains(string(out), name+": server still serving") {
			t.Errorf("%s: checks incomplete", name)
		}
	}
}
