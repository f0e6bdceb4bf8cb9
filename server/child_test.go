package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// childEnv, when set, makes the test binary run childMain instead of the
// tests: the subprocess half of TestReusePortTwoProcesses ("reuseport") and
// TestTenThousandConns ("dial"). childArg carries its argument.
const (
	childEnv = "WEFT_SERVER_TEST_CHILD"
	childArg = "WEFT_SERVER_TEST_ARG"
)

func childMain() int {
	var err error
	switch os.Getenv(childEnv) {
	case "reuseport":
		err = childReusePort(os.Getenv(childArg))
	case "dial":
		err = childDial(os.Getenv(childArg))
	case "emfile":
		err = childEMFILE(os.Getenv(childArg))
	default:
		err = fmt.Errorf("unknown child mode %q", os.Getenv(childEnv))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// startChild runs the test binary in child mode; closing the returned
// writer (its stdin) tells it to finish.
func startChild(t *testing.T, mode, arg string) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childArg+"="+arg)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return cmd, stdin, bufio.NewReader(stdout)
}

// pidSayer writes its process id and hangs up.
type pidSayer struct{}

func (pidSayer) ConnectionMade(t weft.Transport) {
	t.Write([]byte("pid " + strconv.Itoa(os.Getpid()) + "\n"))
	t.LoseConnection()
}
func (pidSayer) DataReceived([]byte)  {}
func (pidSayer) ConnectionLost(error) {}

func pidFactory() weft.Factory {
	return weft.FactoryFunc(func(net.Addr) weft.Protocol { return pidSayer{} })
}

func childReusePort(desc string) error {
	s := &Server{Factory: pidFactory()}
	done := make(chan error, 1)
	go func() { done <- s.Listen(desc) }()
	for len(s.Addrs()) == 0 {
		select {
		case err := <-done:
			return err
		case <-time.After(time.Millisecond):
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	s.Close()
	<-done
	return nil
}

// TestReusePortTwoProcesses: this process and a child both listen on one
// port with reuseport=yes; connections reach both. This process binds port 0
// and the child the port it got, so no other socket can take it in between.
func TestReusePortTwoProcesses(t *testing.T) {
	s := &Server{Factory: pidFactory()}
	addr := listen(t, s, "tcp:0:interface=127.0.0.1:reuseport=yes").String()
	desc := fmt.Sprintf("tcp:%d:interface=127.0.0.1:reuseport=yes", portOf(t, addr))
	_, _, out := startChild(t, "reuseport", desc)
	if line, err := out.ReadString('\n'); line != "ready\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	seen := map[string]int{}
	for i := 0; i < 1000 && len(seen) < 2; i++ {
		c := dial(t, addr)
		seen[strings.TrimSpace(string(readAll(t, c)))]++
		c.Close()
	}
	if len(seen) != 2 || seen[fmt.Sprintf("pid %d", os.Getpid())] == 0 {
		t.Fatalf("connections reached %v; want this process and the child", seen)
	}
	t.Logf("connections per process: %v", seen)
}

// portOf returns the port of a host:port address.
func portOf(t *testing.T, addr string) int {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return int(ap.Port())
}

// childDial opens N connections to addr from 127.0.0.1-127.0.0.9, checks
// one echo on each, prints "open N errors E", waits for stdin to close, then
// closes them all.
func childDial(arg string) error {
	addr, nstr, _ := strings.Cut(arg, ",")
	n, err := strconv.Atoi(nstr)
	if err != nil {
		return err
	}
	conns := make([]net.Conn, n)
	var errs atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, 128)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d := net.Dialer{Timeout: 20 * time.Second,
				LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%9))}}
			c, err := d.Dial("tcp4", addr)
			if err == nil {
				conns[i] = c
				msg := []byte(fmt.Sprintf("%07d", i))
				c.SetDeadline(time.Now().Add(60 * time.Second))
				if _, err = c.Write(msg); err == nil {
					got := make([]byte, len(msg))
					if _, err = io.ReadFull(c, got); err == nil && string(got) != string(msg) {
						err = fmt.Errorf("echo %q, want %q", got, msg)
					}
				}
			}
			if err != nil {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}()
	}
	wg.Wait()
	fmt.Printf("open %d errors %d first %v\n", n, errs.Load(), firstErr.Load())
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	return nil
}

// TestTenThousandConns: 10,000 concurrent loopback connections (from a
// child process, so that each process stays under its 20,000 descriptor
// limit) are all served and echoed with zero errors, and all end cleanly.
func TestTenThousandConns(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 connections: skipped under -short")
	}
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) { testTenThousandConns(t, engine(t)) })
	}
}

func testTenThousandConns(t *testing.T, engine *weft.Engine) {
	const n = 10000
	s := &Server{Factory: echoFactory(), Engine: engine}
	addr := serve(t, s)
	_, stdin, out := startChild(t, "dial", fmt.Sprintf("%s,%d", addr, n))
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if want := fmt.Sprintf("open %d errors 0 ", n); !strings.HasPrefix(line, want) {
		t.Fatalf("child reported %q, want %q...", line, want)
	}
	waitForUpTo(t, time.Minute, "10,000 active", func() bool { return s.Len() == n })
	waitForUpTo(t, time.Minute, "every echo counted", func() bool {
		snap := s.Snapshot()
		return snap.Accepted == n && snap.Active == n && snap.BytesIn == 7*n && snap.BytesOut == 7*n
	})
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	g := runtime.NumGoroutine()
	t.Logf("10,000 idle connections: %d goroutines, %d KiB heap in use, %d KiB stacks", g, ms.HeapInuse>>10, ms.StackInuse>>10)
	if engine != nil && g > n/10 {
		t.Errorf("%d goroutines with an engine: idle connections should hold none", g)
	}
	stdin.Close()
	// Generous bounds: 10,000 closes under -race on a loaded machine.
	waitForUpTo(t, 2*time.Minute, "all closed", func() bool { return s.Len() == 0 })
	waitForUpTo(t, time.Minute, "all counted", func() bool { return s.Snapshot().Closed["clean"] == n })
	if snap := s.Snapshot(); snap.Closed["error"] != 0 || snap.Rejected["max conns"] != 0 {
		t.Errorf("closed %v", snap.Closed)
	}
}
