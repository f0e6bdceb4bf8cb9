package gen

import (
	"runtime"
	"syscall"
	"time"
)

// Result is what one generator run reports. The loadgen command prints it as
// one JSON object; the runner parses it. Fields that do not apply to a mode
// are zero.
type Result struct {
	Mode     string  `json:"mode"`
	Codec    string  `json:"codec,omitempty"`
	Conns    int     `json:"conns"`
	InFlight int     `json:"inflight,omitempty"`
	Size     int     `json:"size,omitempty"`
	Window   float64 `json:"window_s"` // measured window, seconds

	Msgs       int64   `json:"msgs"`        // frames echoed (echo), connections completed (churn), deliveries (fanout)
	MsgsPerSec float64 `json:"msgs_per_s"`  // Msgs / Window
	MBPerSec   float64 `json:"mb_per_s"`    // payload MB (1e6 B) per second, one direction
	P50us      float64 `json:"p50_us"`      // latency quantiles in microseconds
	P99us      float64 `json:"p99_us"`      //
	P999us     float64 `json:"p999_us"`     //
	Errors     int64   `json:"errors"`      // verification failures, unexpected closes, failed connects
	FirstError string  `json:"first_error"` // the first of them, for the log
	Alive      int     `json:"alive"`       // connections alive at the end

	// Idle mode: the server's VmRSS in bytes before connecting, once all
	// connections are open and idle, and after each echoed one frame.
	RSSBefore    int64   `json:"rss_before,omitempty"`
	RSSIdle      int64   `json:"rss_idle,omitempty"`
	RSSAfterEcho int64   `json:"rss_after_echo,omitempty"`
	BytesPerConn float64 `json:"bytes_per_conn,omitempty"`      // (RSSIdle-RSSBefore)/Conns
	BytesPerEcho float64 `json:"bytes_per_conn_echo,omitempty"` // (RSSAfterEcho-RSSBefore)/Conns

	// The generator's own CPU time over the window (user+system, all
	// threads), and that as a fraction of the window (1.0 = one core busy).
	GenCPU     float64 `json:"gen_cpu_s"`
	GenCPUFrac float64 `json:"gen_cpu_frac"`
	// CPUBusy is each CPU's busy time over the window in seconds, from
	// /proc/stat (user+nice+system+irq+softirq+steal), indexed by CPU number.
	// The runner pins the server to one CPU and reads its entry.
	CPUBusy []float64 `json:"cpu_busy_s"`
	// ServerCPU is the server process's own CPU time over the window
	// (/proc/PID/stat utime+stime, seconds) when its PID was given: CPUBusy
	// of the server's CPU minus this is softirq work plus other processes.
	ServerCPU float64 `json:"server_proc_cpu_s"`
	// GenMallocs counts the generator's heap allocations during the window
	// (runtime.MemStats.Mallocs): far below Msgs, since the hot path does not
	// allocate per message.
	GenMallocs uint64 `json:"gen_mallocs"`
	// Side is the second connection set's result (EchoConfig.Side): its
	// messages, latency, errors and live connections over the same window.
	// The CPU figures above cover both sets.
	Side *Result `json:"side,omitempty"`
}

// cpuClock reads this process's CPU time (user+system).
func cpuClock() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// window measures wall and CPU time between start and stop.
type window struct {
	pid   int // server process, 0 if unknown
	pcpu  float64
	t0    time.Time
	cpu0  time.Duration
	wall  time.Duration
	cpu   time.Duration
	busy0 []float64
	busy  []float64
	mall  uint64
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

func (w *window) start() {
	w.pcpu = procCPU(w.pid)
	w.busy0 = cpuBusy()
	w.mall = mallocs()
	w.t0, w.cpu0 = time.Now(), cpuClock()
}

func (w *window) stop() {
	w.wall, w.cpu = time.Since(w.t0), cpuClock()-w.cpu0
	w.mall = mallocs() - w.mall
	w.busy = cpuBusy()
	w.pcpu = procCPU(w.pid) - w.pcpu
	for i := range min(len(w.busy), len(w.busy0)) {
		w.busy[i] -= w.busy0[i]
	}
}

func (w *window) fill(r *Result) {
	r.Window = w.wall.Seconds()
	r.GenCPU = w.cpu.Seconds()
	r.CPUBusy = w.busy
	r.ServerCPU = w.pcpu
	r.GenMallocs = w.mall
	if w.wall > 0 {
		r.GenCPUFrac = w.cpu.Seconds() / w.wall.Seconds()
		r.MsgsPerSec = float64(r.Msgs) / w.wall.Seconds()
	}
}

func (r *Result) setLatency(h *Hist) {
	r.P50us = float64(h.Quantile(0.50)) / 1e3
	r.P99us = float64(h.Quantile(0.99)) / 1e3
	r.P999us = float64(h.Quantile(0.999)) / 1e3
}

// RaiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit and returns
// the new soft limit.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}
