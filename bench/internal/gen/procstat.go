package gen

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// clockTicks is USER_HZ, the unit of /proc/stat (100 on Linux).
const clockTicks = 100

// cpuBusy returns, per CPU (index = CPU number), the busy time in seconds from
// /proc/stat: user+nice+system+irq+softirq+steal. It returns nil if
// /proc/stat cannot be read.
func cpuBusy() []float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	var out []float64
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 9 || !bytes.HasPrefix(f[0], []byte("cpu")) || len(f[0]) == 3 {
			continue
		}
		n, err := strconv.Atoi(string(f[0][3:]))
		if err != nil || n < 0 || n > 4096 {
			continue
		}
		var v [8]float64
		for i := range v {
			v[i], _ = strconv.ParseFloat(string(f[1+i]), 64)
		}
		// user nice system idle iowait irq softirq steal
		busy := (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / clockTicks
		for len(out) <= n {
			out = append(out, 0)
		}
		out[n] = busy
	}
	return out
}

// procCPU returns the CPU time (user+system, seconds) of process pid from
// /proc/PID/stat, or 0 if it cannot be read.
func procCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields restart after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 { // f[0] is field 3 (state); utime and stime are fields 14 and 15
		return 0
	}
	u, _ := strconv.ParseFloat(string(f[11]), 64)
	s, _ := strconv.ParseFloat(string(f[12]), 64)
	return (u + s) / clockTicks
}
