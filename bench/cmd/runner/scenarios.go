package main

import (
	"fmt"
	"strings"
)

// scenario is one benchmark scenario of issue 8.
type scenario struct {
	ID       string
	Title    string
	Mode     string // loadgen -mode
	Proto    string // server protocol: echo or chat
	Codec    string
	Conns    int
	InFlight int
	Size     int
	Naive    bool   // the naive plain server runs here too
	Unit     string // what the headline number counts
	// Block: the server also listens on a second address whose connections'
	// callbacks sleep 10 ms every 10 frames; BlockConns connections load it
	// while the measured set runs. With BlockConns 0 (B0) the same server
	// runs with nobody on that address: the baseline B is compared with.
	Block      bool
	BlockConns int
	// Group: scenarios of one group are interleaved within each round
	// (B0 and B: each server alone, then with blockers, round by round),
	// so their ratios compare measurements taken close together.
	Group string
}

// group is the scenario's interleaving group; by default its own ID.
func (s scenario) group() string {
	if s.Group != "" {
		return s.Group
	}
	return s.ID
}

func scenarios(idleConns int) []scenario {
	return []scenario{
		{"S1", "line 64 B, 100 conns, 16 in flight", "echo", "echo", "line", 100, 16, 64, true, "msgs/s", false, 0, ""},
		{"S2", "line 64 B, 1,000 conns, 1 in flight", "echo", "echo", "line", 1000, 1, 64, false, "msgs/s", false, 0, ""},
		{"S3", "netstring 4 KiB, 50 conns, 4 in flight", "echo", "echo", "netstring", 50, 4, 4096, false, "msgs/s", false, 0, ""},
		{"S4", "int32 64 B, 100 conns, 16 in flight", "echo", "echo", "int32", 100, 16, 64, false, "msgs/s", false, 0, ""},
		{"S5", fmt.Sprintf("%d idle conns", idleConns), "idle", "echo", "line", idleConns, 0, 16, false, "B/conn", false, 0, ""},
		{"S6", "churn: connect, echo 64 B, close; 32 at a time", "churn", "echo", "line", 32, 0, 64, false, "conns/s", false, 0, ""},
		{"S7", "chat fan-out, 100 clients, 4 in flight each", "fanout", "chat", "line", 100, 4, 64, false, "deliveries/s", false, 0, ""},
		{ID: "B0", Title: "blocking baseline: B's 100 conns on B's servers, no blocking set",
			Mode: "echo", Proto: "echo", Codec: "line", Conns: 100, InFlight: 1, Size: 64, Unit: "msgs/s", Block: true, Group: "B"},
		{ID: "B", Title: "blocking: line 64 B, 100 conns, 1 in flight, + 10 conns sleeping 10 ms every 10 frames",
			Mode: "echo", Proto: "echo", Codec: "line", Conns: 100, InFlight: 1, Size: 64, Unit: "msgs/s", Block: true, BlockConns: 10, Group: "B"},
	}
}

// pickScenarios selects scenarios by a comma-separated list of IDs.
func pickScenarios(all []scenario, list string) ([]scenario, error) {
	if list == "" || list == "all" {
		return all, nil
	}
	var out []scenario
	for id := range strings.SplitSeq(list, ",") {
		id = strings.ToUpper(strings.TrimSpace(id))
		found := false
		for _, s := range all {
			if s.ID == id {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown scenario %q (S1–S7, B0, B)", id)
		}
	}
	return out, nil
}

// groups splits scenarios into runs of consecutive scenarios with the same
// group, keeping their order; the runner interleaves each run's scenarios
// within every round.
func groups(scs []scenario) [][]scenario {
	var out [][]scenario
	for i, s := range scs {
		if i > 0 && s.group() == scs[i-1].group() {
			out[len(out)-1] = append(out[len(out)-1], s)
			continue
		}
		out = append(out, []scenario{s})
	}
	return out
}
