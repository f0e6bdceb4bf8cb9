// Command loadgen is the benchmark load generator. It drives one server in
// one of five modes and prints one JSON result (gen.Result) on stdout:
//
//   - echo: N connections, P frames in flight each, every echoed byte
//     verified, and every frame sent must come back (after the window, the
//     frames in flight are awaited for -drain); msgs/s, MB/s, p50/p99/p999
//     latency.
//   - idle: N idle connections from 127.0.0.1–127.0.0.9; the server's RSS
//     growth per connection (from /proc/PID/status), then one echo on each to
//     check that all are alive.
//   - tlsidle: idle over TLS (crypto/tls clients, the certificate not
//     verified: loopback only), to measure what an idle TLS connection
//     costs the server.
//   - churn: connect, one echo, close, on K connections at a time;
//     connections/s.
//   - fanout: C chat clients, each message delivered to the C−1 others;
//     deliveries/s.
//
// The hot paths run on epoll loops (one per CPU in the process's affinity
// mask) with no allocation per message; every result carries the generator's
// own CPU time so that a saturated generator shows.
//
//	taskset -c 0 loadgen -mode echo -addr 127.0.0.1:7000 -codec line -conns 100 -inflight 16 -size 64 -d 5s -warmup 1s
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/weftkit/weft/bench/internal/gen"
)

func main() {
	var (
		mode     = flag.String("mode", "echo", "echo, idle, tlsidle, churn or fanout")
		addr     = flag.String("addr", "", "server host:port (required)")
		codec    = flag.String("codec", "line", "echo framing: line, netstring or int32")
		conns    = flag.Int("conns", 100, "connections (idle, echo), clients (fanout), concurrent connects (churn)")
		inflight = flag.Int("inflight", 1, "frames in flight per connection (echo) or messages per client (fanout)")
		size     = flag.Int("size", 64, "payload bytes per frame (at least 16)")
		dur      = flag.Duration("d", 5*time.Second, "measured window")
		warmup   = flag.Duration("warmup", time.Second, "load before the measured window")
		loops    = flag.Int("loops", 0, "epoll loops (0: one per CPU in the affinity mask)")
		pid      = flag.Int("pid", 0, "server process id: its RSS (idle mode) and CPU time over the window")
		spread   = flag.Bool("spread", false, "echo: dial from 127.0.0.1–127.0.0.9")
		rawsys   = flag.Bool("rawsys", false, "echo, fanout: raw read/write system calls and a non-sleeping epoll poll first (see internal/gen sysops)")
		spin     = flag.Bool("spin", false, "echo: busy-poll epoll, never sleep (implies -rawsys)")
		cpuprof  = flag.String("cpuprofile", "", "write the generator's CPU profile to this file")
		sideAddr = flag.String("side-addr", "", "echo: a second server host:port, loaded by the same epoll loops and reported apart (\"side\")")
		sideN    = flag.Int("side-conns", 10, "echo: connections to -side-addr")
		drain    = flag.Duration("drain", gen.DefaultDrain, "echo, churn, fanout: after the window, wait this long for what is in flight; anything still missing is an error")
	)
	flag.Parse()
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if _, err := gen.RaiseFileLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: raising RLIMIT_NOFILE:", err)
	}
	var (
		r   *gen.Result
		err error
	)
	switch *mode {
	case "echo":
		cfg := gen.EchoConfig{Addr: *addr, Codec: gen.Codec(*codec), Conns: *conns,
			InFlight: *inflight, Size: *size, Warmup: *warmup, Duration: *dur, Loops: *loops, Spread: *spread, PID: *pid, RawSys: *rawsys, Spin: *spin, Drain: *drain}
		if *sideAddr != "" {
			cfg.Side = &gen.EchoSide{Addr: *sideAddr, Conns: *sideN}
		}
		r, err = gen.Echo(cfg)
	case "idle":
		r, err = gen.Idle(gen.IdleConfig{Addr: *addr, Codec: gen.Codec(*codec), Conns: *conns, PID: *pid})
	case "tlsidle":
		r, err = gen.TLSIdle(gen.IdleConfig{Addr: *addr, Codec: gen.Codec(*codec), Conns: *conns, PID: *pid})
	case "churn":
		r, err = gen.Churn(gen.ChurnConfig{Addr: *addr, Codec: gen.Codec(*codec), Concurrency: *conns,
			Size: *size, Warmup: *warmup, Duration: *dur, Loops: *loops, PID: *pid, Drain: *drain})
	case "fanout":
		r, err = gen.Fanout(gen.FanoutConfig{Addr: *addr, Clients: *conns, InFlight: *inflight,
			Size: *size, Warmup: *warmup, Duration: *dur, PID: *pid, RawSys: *rawsys, Drain: *drain})
	default:
		err = fmt.Errorf("unknown -mode %q (want echo, idle, tlsidle, churn or fanout)", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		pprof.StopCPUProfile()
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(r); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	if r.Side != nil && r.Side.Errors > 0 {
		fmt.Fprintf(os.Stderr, "loadgen: side set: %d errors, first: %s\n", r.Side.Errors, r.Side.FirstError)
	}
	if r.Errors > 0 || (r.Side != nil && r.Side.Errors > 0) {
		fmt.Fprintf(os.Stderr, "loadgen: %d errors, first: %s\n", r.Errors, r.FirstError)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}
