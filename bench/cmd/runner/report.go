package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// stat is a median with its range.
type stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// MarshalJSON writes an empty stat (no measurements) as null.
func (s stat) MarshalJSON() ([]byte, error) {
	if s.N == 0 {
		return []byte("null"), nil
	}
	type plain stat
	return json.Marshal(plain(s))
}

func statOf(v []float64) stat {
	if len(v) == 0 {
		return stat{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{med, s[0], s[len(s)-1], len(s)}
}

// row is the summary of one scenario on one server.
type row struct {
	Scenario string `json:"scenario"`
	Title    string `json:"title"`
	Unit     string `json:"unit"`
	Server   string `json:"server"`
	Value    stat   `json:"value"`           // msgs/s, conns/s, deliveries/s, or B/conn (S5)
	UsPerMsg stat   `json:"us_per_msg"`      // server CPU per message
	ProcUs   stat   `json:"proc_us_per_msg"` // server process CPU per message
	P50      stat   `json:"p50_us"`
	P99      stat   `json:"p99_us"`
	GenCPU   stat   `json:"gen_cpu_frac"` // generator process CPU / window
	SrvBusy  stat   `json:"server_cpu_busy_frac"`
	After    stat   `json:"bytes_per_conn_after_echo,omitempty"`
	BlockSet stat   `json:"block_set_msgs_per_s,omitempty"` // blocking scenario: the sleeping set's msgs/s
	Errors   int64  `json:"errors"`
	Failed   int    `json:"failed_measurements"`
	// Ratios: for each weft server (weft, weftepoll), its value ÷ this
	// server's, paired by round.
	Ratios map[string]*stat `json:"ratios,omitempty"`
}

func value(s scenario, m measurement) float64 {
	if s.Mode == "idle" {
		return m.Result.BytesPerConn
	}
	return m.Result.MsgsPerSec
}

// failed reports whether m is left out of the medians: no result, or any
// error, in the measured connections or in scenario B's sleeping set.
func failed(m measurement) bool {
	return m.Result == nil || m.Err != "" || m.Result.Errors > 0 || m.BlockSet != nil && m.BlockSet.Errors > 0
}

func summarize(scs []scenario, servers []string, ms []measurement) []row {
	var rows []row
	for _, s := range scs {
		byRound := map[string]map[int]float64{}
		for _, srv := range servers {
			var r row
			r.Scenario, r.Title, r.Unit, r.Server = s.ID, s.Title, s.Unit, srv
			var bset, val, us, pus, p50, p99, gcpu, busy, after []float64
			seen := false
			for _, m := range ms {
				if m.Scenario != s.ID || m.Server != srv {
					continue
				}
				seen = true
				if failed(m) {
					r.Failed++
					if m.Result != nil {
						r.Errors += m.Result.Errors
					}
					if m.BlockSet != nil {
						r.Errors += m.BlockSet.Errors
					}
					continue
				}
				v := value(s, m)
				val = append(val, v)
				if byRound[srv] == nil {
					byRound[srv] = map[int]float64{}
				}
				byRound[srv][m.Round] = v
				us = append(us, m.UsPerMsg)
				if m.BlockSet != nil {
					bset = append(bset, m.BlockSet.MsgsPerSec)
				}
				pus = append(pus, m.ProcUsPerMsg)
				p50 = append(p50, m.Result.P50us)
				p99 = append(p99, m.Result.P99us)
				gcpu = append(gcpu, m.Result.GenCPUFrac)
				if m.Result.Window > 0 {
					busy = append(busy, m.ServerCPU/m.Result.Window)
				}
				after = append(after, m.Result.BytesPerEcho)
			}
			if !seen {
				continue
			}
			r.Value, r.UsPerMsg, r.P50, r.P99 = statOf(val), statOf(us), statOf(p50), statOf(p99)
			r.GenCPU, r.SrvBusy, r.After = statOf(gcpu), statOf(busy), statOf(after)
			r.ProcUs, r.BlockSet = statOf(pus), statOf(bset)
			rows = append(rows, r)
		}
		for i := range rows {
			if rows[i].Scenario != s.ID {
				continue
			}
			for _, base := range ratioBases(servers) {
				if rows[i].Server == base {
					continue
				}
				var ratios []float64
				for round, w := range byRound[base] {
					if p, ok := byRound[rows[i].Server][round]; ok && p > 0 {
						ratios = append(ratios, w/p)
					}
				}
				if len(ratios) > 0 {
					st := statOf(ratios)
					if rows[i].Ratios == nil {
						rows[i].Ratios = map[string]*stat{}
					}
					rows[i].Ratios[base] = &st
				}
			}
		}
	}
	return rows
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v >= 100:
		return commas(int64(math.Round(v)))
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func rng(s stat) string {
	if s.N == 0 {
		return "–"
	}
	if s.N == 1 {
		return num(s.Median)
	}
	return fmt.Sprintf("%s [%s–%s]", num(s.Median), num(s.Min), num(s.Max))
}

func ratio(s *stat) string {
	if s == nil {
		return ""
	}
	if s.N == 1 {
		return fmt.Sprintf("%.2f×", s.Median)
	}
	return fmt.Sprintf("%.2f× [%.2f–%.2f]", s.Median, s.Min, s.Max)
}

// ratioBases are the servers that ratios are computed for: the weft ones.
func ratioBases(servers []string) []string {
	var out []string
	for _, s := range servers {
		if strings.HasPrefix(s, "weft") {
			out = append(out, s)
		}
	}
	return out
}

func ratioCells(r row, bases []string) string {
	var b strings.Builder
	for _, base := range bases {
		fmt.Fprintf(&b, " %s |", ratio(r.Ratios[base]))
	}
	return b.String()
}

// markdown renders the tables.
func markdown(rows []row, servers []string) string {
	var b strings.Builder
	bases := ratioBases(servers)
	head, sep := "", ""
	for _, base := range bases {
		head += " " + base + " ÷ server |"
		sep += " --- |"
	}
	var idle, busy []row
	for _, r := range rows {
		if r.Unit == "B/conn" {
			idle = append(idle, r)
		} else {
			busy = append(busy, r)
		}
	}
	if len(busy) > 0 {
		b.WriteString("| scenario | server | result, median [min–max] | server CPU µs/msg | server process µs/msg | p50 µs | p99 µs | server CPU busy | generator CPU | failed runs |" + head + "\n")
		b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |" + sep + "\n")
	}
	for _, r := range busy {
		unit := r.Unit
		if r.BlockSet.N > 0 {
			unit += fmt.Sprintf(" (sleeping set: %s msgs/s)", num(r.BlockSet.Median))
		}
		fmt.Fprintf(&b, "| %s %s | %s | %s %s | %s | %s | %s | %s | %.0f %% | %.0f %% | %d |%s\n",
			r.Scenario, r.Title, r.Server, rng(r.Value), unit, num(r.UsPerMsg.Median), num(r.ProcUs.Median), num(r.P50.Median),
			num(r.P99.Median), 100*r.SrvBusy.Median, 100*r.GenCPU.Median, r.Failed, ratioCells(r, bases))
	}
	if len(idle) > 0 {
		if len(busy) > 0 {
			b.WriteString("\n")
		}
		b.WriteString("| scenario | server | RSS per idle connection (B), median [min–max] | after one echo each (B) | failed runs |" + head + "\n")
		b.WriteString("| --- | --- | --- | --- | --- |" + sep + "\n")
		for _, r := range idle {
			fmt.Fprintf(&b, "| %s %s | %s | %s | %s | %d |%s\n",
				r.Scenario, r.Title, r.Server, rng(r.Value), num(r.After.Median), r.Failed, ratioCells(r, bases))
		}
	}
	return b.String()
}

// blockCost compares B with its baseline B0 on each server, pairing the
// two measurements of the same round: what the sleeping set costs the
// other connections' p99 and msgs/s. It is empty without such pairs.
func blockCost(ms []measurement, servers []string) string {
	type pair struct{ alone, with *measurement }
	var b strings.Builder
	for _, srv := range servers {
		byRound := map[int]*pair{}
		for i := range ms {
			m := &ms[i]
			if m.Server != srv || failed(*m) {
				continue
			}
			if m.Scenario != "B0" && m.Scenario != "B" {
				continue
			}
			p := byRound[m.Round]
			if p == nil {
				p = &pair{}
				byRound[m.Round] = p
			}
			if m.Scenario == "B0" {
				p.alone = m
			} else {
				p.with = m
			}
		}
		var p0, p1, rp, rm []float64
		for _, p := range byRound {
			if p.alone == nil || p.with == nil || p.alone.Result.P99us <= 0 || p.alone.Result.MsgsPerSec <= 0 {
				continue
			}
			p0 = append(p0, p.alone.Result.P99us)
			p1 = append(p1, p.with.Result.P99us)
			rp = append(rp, p.with.Result.P99us/p.alone.Result.P99us)
			rm = append(rm, p.with.Result.MsgsPerSec/p.alone.Result.MsgsPerSec)
		}
		if len(rp) == 0 {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("| server | p99 alone (B0) µs | p99 with the sleeping set (B) µs | p99 B ÷ B0 | msgs/s B ÷ B0 | rounds |\n")
			b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
		}
		a, w := statOf(rp), statOf(rm)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d |\n", srv, rng(statOf(p0)), rng(statOf(p1)), ratio(&a), ratio(&w), len(rp))
	}
	return b.String()
}

func report(out string, scs []scenario, servers []string, ms []measurement, cmdline string) error {
	rows := summarize(scs, servers, ms)
	md := markdown(rows, servers)
	if bc := blockCost(ms, servers); bc != "" {
		md += "\nWhat the sleeping set costs the 100 measured connections (B against B0, paired by round):\n\n" + bc
	}
	if cmdline != "" {
		md = "Command: `" + cmdline + "`\n\n" + md
	}
	fmt.Print(md)
	var loads []float64
	for _, m := range ms {
		loads = append(loads, m.LoadAvg)
	}
	if len(loads) > 0 {
		l := statOf(loads)
		md += fmt.Sprintf("\n1-minute load average at the start of each measurement (2 CPUs): median %.1f [%.1f–%.1f].\n", l.Median, l.Min, l.Max)
	}
	var fails []string
	for _, m := range ms {
		if m.Err != "" {
			fails = append(fails, fmt.Sprintf("- %s round %d %s: %s", m.Scenario, m.Round, m.Server, m.Err))
		}
	}
	if len(fails) > 0 {
		md += "\nFailed or erroneous measurements (excluded from the medians):\n\n" + strings.Join(fails, "\n") + "\n"
		fmt.Println("\n" + strings.Join(fails, "\n"))
	}
	if err := os.WriteFile(filepath.Join(out, "table.md"), []byte(md), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "summary.json"), js, 0o644); err != nil {
		return err
	}
	svg, err := chart(rows, servers)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "chart.svg"), svg, 0o644)
}
