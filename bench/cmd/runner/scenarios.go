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
	// while the measured set runs.
	Block      bool
	BlockConns int
}

func scenarios(idleConns int) []scenario {
	return []scenario{
		{"S1", "line 64 B, 100 conns, 16 in flight", "echo", "echo", "line", 100, 16, 64, true, "msgs/s", false, 0},
		{"S2", "line 64 B, 1,000 conns, 1 in flight", "echo", "echo", "line", 1000, 1, 64, false, "msgs/s", false, 0},
		{"S3", "netstring 4 KiB, 50 conns, 4 in flight", "echo", "echo", "netstring", 50, 4, 4096, false, "msgs/s", false, 0},
		{"S4", "int32 64 B, 100 conns, 16 in flight", "echo", "echo", "int32", 100, 16, 64, false, "msgs/s", false, 0},
		{"S5", fmt.Sprintf("%d idle conns", idleConns), "idle", "echo", "line", idleConns, 0, 16, false, "B/conn", false, 0},
		{"S6", "churn: connect, echo 64 B, close; 32 at a time", "churn", "echo", "line", 32, 0, 64, false, "conns/s", false, 0},
		{"S7", "chat fan-out, 100 clients, 4 in flight each", "fanout", "chat", "line", 100, 4, 64, false, "deliveries/s", false, 0},
		{ID: "B", Title: "blocking: line 64 B, 100 conns, 1 in flight, + 10 conns sleeping 10 ms every 10 frames",
			Mode: "echo", Proto: "echo", Codec: "line", Conns: 100, InFlight: 1, Size: 64, Unit: "msgs/s", Block: true, BlockConns: 10},
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
			return nil, fmt.Errorf("unknown scenario %q (S1–S7, B)", id)
		}
	}
	return out, nil
}
