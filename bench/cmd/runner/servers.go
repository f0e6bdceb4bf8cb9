package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverKind is one of the compared servers.
type serverKind struct {
	Name string
	Go   bool // a Go program: run with GOMAXPROCS=1
	// args returns the command line serving sc on addr (host:port), and for
	// blocking scenarios the blocking listener on baddr, or nil when the
	// server has no implementation of sc.
	args func(sc scenario, addr, baddr string) []string
}

// toolset locates the built binaries.
type toolset struct {
	bin      string // directory with loadgen, plain, gnet, weftecho (and weft)
	benchDir string
	weftCmd  bool // bin/weft is the real weft command
}

func (ts *toolset) servers() map[string]serverKind {
	b := func(name string) string { return filepath.Join(ts.bin, name) }
	return map[string]serverKind{
		"weft": {"weft", true, func(sc scenario, addr, baddr string) []string {
			if ts.weftCmd && !sc.Block {
				_, port, _ := net.SplitHostPort(addr)
				if sc.Proto == "chat" {
					return []string{b("weft"), "serve", "chat", "--listen", "tcp:" + port + ":interface=127.0.0.1"}
				}
				return []string{b("weft"), "serve", "echo", "--codec", sc.Codec, "--listen", "tcp:" + port + ":interface=127.0.0.1"}
			}
			// weft serve has no blocking listener: in the blocking
			// scenario "weft" is weftecho on the goroutine engine (the
			// engine of weft.Serve) and "weftepoll" the readiness engine.
			return withBlock(sc, baddr, b("weftecho"), "-engine", "goroutine", "-listen", addr, "-codec", sc.Codec, "-proto", sc.Proto)
		}},
		"weftepoll": {"weftepoll", true, func(sc scenario, addr, baddr string) []string {
			return withBlock(sc, baddr, b("weftecho"), "-engine", "epoll", "-listen", addr, "-codec", sc.Codec, "-proto", sc.Proto)
		}},
		"gnet": {"gnet", true, func(sc scenario, addr, baddr string) []string {
			return withBlock(sc, baddr, b("gnet"), "-listen", addr, "-codec", sc.Codec, "-proto", sc.Proto)
		}},
		"plain": {"plain", true, func(sc scenario, addr, baddr string) []string {
			return withBlock(sc, baddr, b("plain"), "-listen", addr, "-codec", sc.Codec, "-proto", sc.Proto)
		}},
		"naive": {"naive", true, func(sc scenario, addr, baddr string) []string {
			if !sc.Naive {
				return nil
			}
			return []string{b("plain"), "-naive", "-listen", addr, "-codec", sc.Codec, "-proto", sc.Proto}
		}},
		"twisted": {"twisted", false, func(sc scenario, addr, baddr string) []string {
			argv := []string{"/usr/bin/python3", filepath.Join(ts.benchDir, "peers", "twisted", "peer.py"), sc.Proto, sc.Codec, addr}
			if sc.Block {
				argv = append(argv, baddr)
			}
			return argv
		}},
	}
}

// withBlock returns argv, plus "-block-listen baddr" in blocking scenarios.
func withBlock(sc scenario, baddr string, argv ...string) []string {
	if sc.Block {
		argv = append(argv, "-block-listen", baddr)
	}
	return argv
}

// build compiles the generator and the Go peers into ts.bin, and the weft
// command if mode allows ("auto": use it if it builds and serves echo;
// "cmd": require it; "weftecho": never).
func (ts *toolset) build(mode string) error {
	cmd := exec.Command("go", "build", "-o", ts.bin+"/", "./cmd/loadgen", "./peers/plain", "./peers/gnet", "./peers/weftecho")
	cmd.Dir = ts.benchDir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the bench binaries: %w", err)
	}
	if mode == "weftecho" {
		return nil
	}
	root := filepath.Dir(ts.benchDir)
	cmd = exec.Command("go", "build", "-o", filepath.Join(ts.bin, "weft"), "./cmd/weft")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err == nil {
		ts.weftCmd = true
		return nil
	}
	if mode == "cmd" {
		return fmt.Errorf("building cmd/weft: %v\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "runner: cmd/weft does not build (%v); weft runs as bench/peers/weftecho\n", err)
	return nil
}

// running is a started server.
type running struct {
	cmd  *exec.Cmd
	addr string
	log  *os.File
	done chan error
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start runs argv pinned to cpu and waits for its "listening on tcp ADDR"
// line.
func start(k serverKind, argv []string, cpu int, logPath string) (*running, error) {
	addr := ""
	for i, a := range argv { // the address is the argument after -listen, or the last
		if (a == "-listen" || a == "--listen") && i+1 < len(argv) {
			addr = argv[i+1]
		}
	}
	full := append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Env = os.Environ()
	if k.Go {
		cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", k.Name, err)
	}
	r := &running{cmd: cmd, addr: addr, log: logf, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if a, ok := strings.CutPrefix(line, "listening on tcp "); ok {
				select {
				case ready <- strings.TrimSpace(a):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		r.done <- cmd.Wait()
	}()
	select {
	case a := <-ready:
		r.addr = a
		return r, nil
	case err := <-r.done:
		logf.Close()
		return nil, fmt.Errorf("%s exited before listening: %v (log %s)", k.Name, err, logPath)
	case <-time.After(30 * time.Second):
		r.stop()
		return nil, fmt.Errorf("%s did not print its listening line in 30 s (log %s)", k.Name, logPath)
	}
}

// stop sends SIGTERM, then SIGKILL after 1 s, and waits.
func (r *running) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	r.log.Close()
}

// runGen runs the load generator pinned to cpu and returns its stdout.
func runGen(ctx context.Context, bin string, cpu int, args []string) ([]byte, string, error) {
	full := append([]string{"-c", strconv.Itoa(cpu), filepath.Join(bin, "loadgen")}, args...)
	cmd := exec.CommandContext(ctx, "taskset", full...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return out, stderr.String(), err
}
