// Command runner runs the weft benchmark suite: each scenario (S1–S7, B0, B) on every
// server (weft, weftepoll, gnet, plain, naive, twisted), interleaved round by round
// (A B C D, B C D A, …: each round starts with the next server), each measurement with a fresh server process pinned to
// one CPU (GOMAXPROCS=1 for Go servers) and the load generator pinned to
// another. It prints a Markdown table of medians, min–max, server CPU per
// message and weft÷peer ratios from the same rounds, and writes to -out:
//
//   - results.jsonl: every measurement (the generator's JSON result plus the
//     server, scenario and round);
//   - summary.json: the aggregated table;
//   - table.md: the Markdown table;
//   - chart.svg: the headline number by scenario and server.
//
// Run it from the bench directory:
//
//	go run ./cmd/runner -rounds 3 -d 5s -warmup 1s -out results
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weftkit/weft/bench/internal/gen"
)

// measurement is one run of one scenario on one server.
type measurement struct {
	Scenario string      `json:"scenario"`
	Server   string      `json:"server"`
	Round    int         `json:"round"`
	Result   *gen.Result `json:"result,omitempty"`
	// ServerCPU: busy seconds of the server's CPU over the window;
	// GenCPUBusy: the same for the generator's CPU.
	ServerCPU  float64 `json:"server_cpu_s"`
	GenCPUBusy float64 `json:"gen_cpu_busy_s"`
	// UsPerMsg is ServerCPU per message, counting both connection sets'
	// messages in scenario B (the server's CPU serves both).
	UsPerMsg float64 `json:"server_us_per_msg"`
	// BlockSet is the blocking set's own result (blocking scenario).
	BlockSet *gen.Result `json:"block_set,omitempty"`
	// ProcUsPerMsg is the server process's own CPU time per message (no
	// softirq, no other processes).
	ProcUsPerMsg float64 `json:"server_proc_us_per_msg"`
	Err          string  `json:"error,omitempty"`
	// LoadAvg is the 1-minute load average when the measurement started:
	// above ~2 on this 2-CPU rig, other processes were competing.
	LoadAvg float64 `json:"loadavg"`
}

type config struct {
	scenarios []scenario
	servers   []string
	rounds    int
	dur       time.Duration
	warmup    time.Duration
	serverCPU int
	genCPU    int
	out       string
	ts        *toolset
}

func main() {
	var (
		scList    = flag.String("scenarios", "all", "comma-separated scenario IDs (S1–S7, B = blocking callbacks, B0 = its baseline without them) or all")
		srvList   = flag.String("servers", "weft,weftepoll,gnet,plain,naive,twisted", "comma-separated servers: weft (weft serve), weftepoll (weft's readiness engine), gnet, plain, naive (S1 only), twisted")
		rounds    = flag.Int("rounds", 3, "rounds (each runs every server once per scenario)")
		dur       = flag.Duration("d", 5*time.Second, "measured window per measurement")
		warmup    = flag.Duration("warmup", time.Second, "warm-up before each window")
		idleConns = flag.Int("idle-conns", 19000, "connections in S5 (the descriptor limit allows ~19,000 here)")
		serverCPU = flag.Int("server-cpu", 1, "CPU the server is pinned to")
		genCPU    = flag.Int("gen-cpu", 0, "CPU the load generator is pinned to")
		out       = flag.String("out", "results", "directory for results.jsonl, summary.json, table.md, chart.svg")
		bin       = flag.String("bin", "", "directory for the built binaries (default: OUT/bin)")
		weftMode  = flag.String("weft", "auto", "the weft server: auto (weft serve if cmd/weft builds, else peers/weftecho -engine goroutine), cmd, weftecho")
		fromJSONL = flag.String("report", "", "only rebuild the report from this results.jsonl")
	)
	flag.Parse()
	if err := run(*scList, *srvList, *rounds, *dur, *warmup, *idleConns, *serverCPU, *genCPU, *out, *bin, *weftMode, *fromJSONL); err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(1)
	}
}

func run(scList, srvList string, rounds int, dur, warmup time.Duration, idleConns, serverCPU, genCPU int,
	out, bin, weftMode, fromJSONL string) error {
	sc, err := pickScenarios(scenarios(idleConns), scList)
	if err != nil {
		return err
	}
	var servers []string
	for s := range strings.SplitSeq(srvList, ",") {
		servers = append(servers, strings.TrimSpace(s))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if fromJSONL != "" {
		ms, err := readJSONL(fromJSONL)
		if err != nil {
			return err
		}
		return report(out, sc, servers, ms, "")
	}
	if rounds < 1 || dur <= 0 || warmup < 0 {
		return errors.New("-rounds must be ≥ 1, -d > 0 and -warmup ≥ 0")
	}
	benchDir, err := os.Getwd()
	if err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(benchDir, "go.mod")); err != nil || !strings.Contains(string(b), "module github.com/weftkit/weft/bench") {
		return errors.New("run the runner from the bench directory (cd bench && go run ./cmd/runner)")
	}
	if bin == "" {
		bin = filepath.Join(out, "bin")
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return errors.New("taskset (util-linux) is needed to pin server and generator")
	}
	ts := &toolset{bin: bin, benchDir: benchDir}
	if err := ts.build(weftMode); err != nil {
		return err
	}
	kinds := ts.servers()
	for _, s := range servers {
		if _, ok := kinds[s]; !ok {
			return fmt.Errorf("unknown server %q", s)
		}
	}
	if slices.Contains(servers, "twisted") {
		if err := exec.Command("/usr/bin/python3", "-c", "import twisted.internet.epollreactor").Run(); err != nil {
			fmt.Fprintln(os.Stderr, "runner: /usr/bin/python3 cannot import Twisted (apt-get install python3-twisted); skipping twisted")
			servers = slices.DeleteFunc(servers, func(s string) bool { return s == "twisted" })
		}
	}
	cfg := &config{scenarios: sc, servers: servers, rounds: rounds, dur: dur, warmup: warmup,
		serverCPU: serverCPU, genCPU: genCPU, out: out, ts: ts}
	jl, err := os.Create(filepath.Join(out, "results.jsonl"))
	if err != nil {
		return err
	}
	defer jl.Close()
	enc := json.NewEncoder(jl)
	var ms []measurement
	for _, grp := range groups(cfg.scenarios) {
		for r := 1; r <= cfg.rounds; r++ {
			for _, s := range grp {
				for _, name := range rotate(cfg.servers, r-1) {
					k := kinds[name]
					t0 := time.Now()
					m := cfg.measure(s, k, r)
					if m == nil {
						continue
					}
					ms = append(ms, *m)
					if err := enc.Encode(m); err != nil {
						return err
					}
					fmt.Fprintf(os.Stderr, "%s  [%.1fs, load %.1f]\n", progressLine(s, m), time.Since(t0).Seconds(), m.LoadAvg)
				}
			}
		}
	}
	cmdline := "go run ./cmd/runner " + strings.Join(os.Args[1:], " ")
	return report(out, sc, servers, ms, cmdline)
}

// rotate returns servers started at index k (mod its length): each round
// begins with the next server, so that no server always runs first after a
// change of scenario (S6 measured an order effect: each round's rate rose
// from its first server to its last).
func rotate(servers []string, k int) []string {
	if len(servers) == 0 {
		return nil
	}
	k %= len(servers)
	return append(append([]string(nil), servers[k:]...), servers[:k]...)
}

func progressLine(s scenario, m *measurement) string {
	if m.Err != "" {
		return fmt.Sprintf("%s round %d %-8s ERROR %s", s.ID, m.Round, m.Server, m.Err)
	}
	r := m.Result
	if s.Mode == "idle" {
		return fmt.Sprintf("%s round %d %-8s %8.0f B/conn idle, %8.0f after echo, alive %d/%d", s.ID, m.Round, m.Server,
			r.BytesPerConn, r.BytesPerEcho, r.Alive, r.Conns)
	}
	line := fmt.Sprintf("%s round %d %-8s %12.0f %s  %6.2f µs/msg  p99 %8.0f µs  gen CPU %3.0f%%  errors %d",
		s.ID, m.Round, m.Server, r.MsgsPerSec, s.Unit, m.UsPerMsg, r.P99us, 100*r.GenCPUFrac, r.Errors)
	if m.BlockSet != nil {
		line += fmt.Sprintf("  (blocking set: %.0f msgs/s)", m.BlockSet.MsgsPerSec)
	}
	return line
}

// measure runs scenario s once on server k; nil when k does not implement s.
func (c *config) measure(s scenario, k serverKind, round int) *measurement {
	addr, err := freePort()
	m := &measurement{Scenario: s.ID, Server: k.Name, Round: round, LoadAvg: loadAvg()}
	if err != nil {
		m.Err = err.Error()
		return m
	}
	baddr := ""
	if s.Block {
		if baddr, err = freePort(); err != nil {
			m.Err = err.Error()
			return m
		}
	}
	argv := k.args(s, addr, baddr)
	if argv == nil {
		return nil
	}
	logPath := filepath.Join(c.out, fmt.Sprintf("%s-%s-r%d.log", s.ID, k.Name, round))
	srv, err := start(k, argv, c.serverCPU, logPath)
	if err != nil {
		m.Err = err.Error()
		return m
	}
	defer func() {
		srv.stop()
		time.Sleep(300 * time.Millisecond) // let the kernel tear the sockets down
	}()
	time.Sleep(200 * time.Millisecond)
	args := []string{"-mode", s.Mode, "-addr", srv.addr, "-codec", s.Codec,
		"-conns", strconv.Itoa(s.Conns), "-size", strconv.Itoa(s.Size),
		"-d", c.dur.String(), "-warmup", c.warmup.String()}
	if s.InFlight > 0 {
		args = append(args, "-inflight", strconv.Itoa(s.InFlight))
	}
	args = append(args, "-pid", strconv.Itoa(srv.cmd.Process.Pid))
	ctx, cancel := context.WithTimeout(context.Background(), c.warmup+c.dur+3*time.Minute)
	defer cancel()
	if s.Block && s.BlockConns > 0 {
		// The sleeping set runs on the same generator's loops (-side-addr):
		// a second generator process on the generator's CPU preempted the
		// first one for whole scheduler slices, adding its own latency to
		// the measured set's p99.
		args = append(args, "-side-addr", baddr, "-side-conns", strconv.Itoa(s.BlockConns))
	}
	stdout, stderr, err := runGen(ctx, c.ts.bin, c.genCPU, args)
	var res gen.Result
	if jerr := json.Unmarshal(stdout, &res); jerr != nil {
		m.Err = fmt.Sprintf("loadgen: %v: %s", err, strings.TrimSpace(stderr))
		return m
	}
	fillResult(m, s, &res, c.serverCPU, c.genCPU)
	return m
}

// fillResult records the generator's result res of scenario s in m: errors,
// the server's and the generator's CPU busy time, and the server's CPU per
// message.
func fillResult(m *measurement, s scenario, res *gen.Result, serverCPU, genCPU int) {
	m.Result = res
	if res.Side != nil {
		m.BlockSet, res.Side = res.Side, nil
	}
	if res.Errors > 0 {
		m.Err = fmt.Sprintf("%d errors, first: %s", res.Errors, res.FirstError)
	}
	if m.BlockSet != nil && m.BlockSet.Errors > 0 && m.Err == "" {
		m.Err = fmt.Sprintf("blocking set: %d errors, first: %s", m.BlockSet.Errors, m.BlockSet.FirstError)
	}
	if serverCPU < len(res.CPUBusy) {
		m.ServerCPU = res.CPUBusy[serverCPU]
	}
	if genCPU < len(res.CPUBusy) {
		m.GenCPUBusy = res.CPUBusy[genCPU]
	}
	// The CPU figures cover the whole window, so both connection sets'
	// messages (scenario B's sleeping set is served by the same process).
	msgs := res.Msgs
	if m.BlockSet != nil {
		msgs += m.BlockSet.Msgs
	}
	if msgs > 0 && s.Mode != "idle" {
		m.UsPerMsg = m.ServerCPU / float64(msgs) * 1e6
		m.ProcUsPerMsg = res.ServerCPU / float64(msgs) * 1e6
	}
}

func readJSONL(path string) ([]measurement, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ms []measurement
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var m measurement
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// loadAvg returns the 1-minute load average, or 0.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
