package main

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/weftkit/weft/bench/internal/gen"
)

func TestStatOf(t *testing.T) {
	for _, tc := range []struct {
		in            []float64
		med, min, max float64
	}{
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
		{[]float64{7}, 7, 7, 7},
	} {
		s := statOf(tc.in)
		if s.Median != tc.med || s.Min != tc.min || s.Max != tc.max || s.N != len(tc.in) {
			t.Errorf("statOf(%v) = %+v", tc.in, s)
		}
	}
	if s := statOf(nil); !math.IsNaN(s.Median) || s.N != 0 {
		t.Errorf("statOf(nil) = %+v", s)
	}
}

func TestPickScenarios(t *testing.T) {
	all := scenarios(19000)
	got, err := pickScenarios(all, "s1, S3,B")
	if err != nil || len(got) != 3 || got[0].ID != "S1" || got[1].ID != "S3" || got[2].ID != "B" {
		t.Fatalf("pickScenarios = %v, %v", got, err)
	}
	if _, err := pickScenarios(all, "S9"); err == nil {
		t.Error("unknown scenario accepted")
	}
	if got, _ := pickScenarios(all, "all"); len(got) != len(all) {
		t.Error("all does not select every scenario")
	}
}

func meas(sc, srv string, round int, msgs float64, errs int64) measurement {
	return measurement{Scenario: sc, Server: srv, Round: round, UsPerMsg: 1e6 / msgs,
		Result: &gen.Result{MsgsPerSec: msgs, Errors: errs, Window: 1, BytesPerConn: msgs}}
}

// Ratios pair the servers' measurements of the same round; failed
// measurements are left out of medians and counted.
func TestSummarizeRatiosFromSameRounds(t *testing.T) {
	scs, _ := pickScenarios(scenarios(100), "S1,S5")
	ms := []measurement{
		meas("S1", "weft", 1, 200, 0), meas("S1", "gnet", 1, 100, 0),
		meas("S1", "weft", 2, 300, 0), meas("S1", "gnet", 2, 300, 0),
		meas("S1", "weft", 3, 999, 1), meas("S1", "gnet", 3, 50, 0),
		meas("S5", "weft", 1, 100, 0), meas("S5", "gnet", 1, 500, 0),
	}
	rows := summarize(scs, []string{"weft", "gnet"}, ms)
	if len(rows) != 4 {
		t.Fatalf("%d rows", len(rows))
	}
	w, g := rows[0], rows[1]
	if w.Value.N != 2 || w.Failed != 1 || w.Errors != 1 || w.Value.Median != 250 {
		t.Errorf("weft row %+v", w)
	}
	if g := g.Ratios["weft"]; g == nil || g.N != 2 || g.Min != 1 || g.Max != 2 {
		t.Errorf("gnet ratio %+v", g)
	}
	if r := rows[3].Ratios["weft"]; r == nil || r.Median != 0.2 {
		t.Errorf("S5 ratio %+v", r)
	}
	md := markdown(rows, []string{"weft", "gnet"})
	for _, want := range []string{"| S1 ", "250 [200–300] msgs/s", "1.50× [1.00–2.00]", "RSS per idle connection", "0.20×"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if _, err := json.Marshal(summarize(scs, []string{"weft", "nobody"}, ms)); err != nil {
		t.Errorf("summary with an empty stat: %v", err)
	}
	svg, err := chart(rows, []string{"weft", "gnet"})
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(string(svg)))
	rects := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	if rects != 1+4 { // background + one bar per row
		t.Errorf("%d rects in the chart", rects)
	}
}

// B0 and B form one group, interleaved round by round; every other
// scenario is a group of its own, in the order given.
func TestGroups(t *testing.T) {
	scs, err := pickScenarios(scenarios(100), "S1,B0,B,S5")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range groups(scs) {
		var ids []string
		for _, s := range g {
			ids = append(ids, s.ID)
		}
		got = append(got, strings.Join(ids, "+"))
	}
	if want := "S1 B0+B S5"; strings.Join(got, " ") != want {
		t.Errorf("groups = %v, want %s", got, want)
	}
	b0, _ := pickScenarios(scenarios(100), "B0")
	if !b0[0].Block || b0[0].BlockConns != 0 {
		t.Errorf("B0 must run B's servers (Block) without a blocking set: %+v", b0[0])
	}
}

// blockCost pairs B with B0 of the same round and server, and leaves out
// failed measurements and rounds without a partner.
func TestBlockCost(t *testing.T) {
	bm := func(sc, srv string, round int, msgs, p99 float64, errs int64) measurement {
		m := meas(sc, srv, round, msgs, errs)
		m.Result.P99us = p99
		return m
	}
	ms := []measurement{
		bm("B0", "weft", 1, 100, 1000, 0), bm("B", "weft", 1, 90, 1500, 0),
		bm("B0", "weft", 2, 100, 2000, 0), bm("B", "weft", 2, 50, 2000, 0),
		bm("B0", "weft", 3, 100, 1000, 0), bm("B", "weft", 3, 10, 9000, 1), // failed: left out
		bm("B", "weft", 4, 10, 9000, 0), // no baseline in round 4
		bm("B0", "gnet", 1, 100, 1000, 0), bm("B", "gnet", 1, 10, 50000, 0),
		bm("S1", "weft", 1, 5, 5, 0),
	}
	got := blockCost(ms, []string{"weft", "gnet", "plain"})
	for _, want := range []string{
		"| weft | 1,500 [1,000–2,000] | 1,750 [1,500–2,000] | 1.25× [1.00–1.50] | 0.70× [0.50–0.90] | 2 |",
		"| gnet | 1,000 | 50,000 | 50.00× | 0.10× | 1 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("blockCost lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "plain") {
		t.Errorf("a server without pairs has a row:\n%s", got)
	}
	if blockCost(ms[len(ms)-1:], []string{"weft"}) != "" {
		t.Error("a table without B and B0")
	}
}

// Each round starts with the next server, every server once per round.
func TestRotate(t *testing.T) {
	servers := []string{"weft", "gnet", "plain"}
	for k, want := range []string{"weft gnet plain", "gnet plain weft", "plain weft gnet", "weft gnet plain"} {
		if got := strings.Join(rotate(servers, k), " "); got != want {
			t.Errorf("rotate(%d) = %s, want %s", k, got, want)
		}
	}
	if strings.Join(servers, " ") != "weft gnet plain" {
		t.Errorf("rotate changed its argument: %v", servers)
	}
	if rotate(nil, 2) != nil {
		t.Error("rotate(nil) != nil")
	}
}

// A measurement whose sleeping set (scenario B) had errors is reported as
// failed and left out of the medians and ratios, like one whose measured
// set had errors: the run is not clean.
func TestSummarizeLeavesOutBlockSetErrors(t *testing.T) {
	scs, _ := pickScenarios(scenarios(100), "B")
	bad := meas("B", "weft", 2, 999, 0)
	bad.BlockSet = &gen.Result{Errors: 3, FirstError: "frame 7 never echoed"}
	bad.Err = "blocking set: 3 errors, first: frame 7 never echoed"
	ms := []measurement{
		meas("B", "weft", 1, 100, 0), meas("B", "gnet", 1, 50, 0),
		bad, meas("B", "gnet", 2, 50, 0),
	}
	rows := summarize(scs, []string{"weft", "gnet"}, ms)
	w, g := rows[0], rows[1]
	if w.Value.N != 1 || w.Value.Median != 100 || w.Failed != 1 || w.Errors != 3 {
		t.Errorf("weft row: value %+v, failed %d, errors %d", w.Value, w.Failed, w.Errors)
	}
	if r := g.Ratios["weft"]; r == nil || r.N != 1 || r.Median != 2 {
		t.Errorf("gnet ratio %+v", r)
	}
}

// In scenario B the server's CPU over the window serves both connection
// sets: per message, it is divided by both sets' messages.
func TestUsPerMsgCountsBothSets(t *testing.T) {
	res := &gen.Result{Msgs: 900, CPUBusy: []float64{1, 0.5}, ServerCPU: 0.4,
		Side: &gen.Result{Msgs: 100}}
	m := &measurement{}
	fillResult(m, scenario{Mode: "echo"}, res, 1, 0)
	if m.BlockSet == nil || m.BlockSet.Msgs != 100 || m.Result.Side != nil {
		t.Fatalf("block set not split off: %+v", m)
	}
	if m.ServerCPU != 0.5 || m.GenCPUBusy != 1 {
		t.Errorf("CPU busy: server %v, generator %v", m.ServerCPU, m.GenCPUBusy)
	}
	if math.Abs(m.UsPerMsg-500) > 1e-9 || math.Abs(m.ProcUsPerMsg-400) > 1e-9 {
		t.Errorf("µs/msg %v (want 500 = 0.5 s / 1,000), process %v (want 400)", m.UsPerMsg, m.ProcUsPerMsg)
	}
}
