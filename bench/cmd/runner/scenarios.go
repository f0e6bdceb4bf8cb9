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
}

func scenarios(idleConns int) []scenario {
	return []scenario{
		{"S1", "line 64 B, 100 conns, 16 in flight", "echo", "echo", "line", 100, 16, 64, true, "msgs/s"},
		{"S2", "line 64 B, 1,000 conns, 1 in flight", "echo", "echo", "line", 1000, 1, 64, false, "msgs/s"},
		{"S3", "netstring 4 KiB, 50 conns, 4 in flight", "echo", "echo", "netstring", 50, 4, 4096, false, "msgs/s"},
		{"S4", "int32 64 B, 100 conns, 16 in flight", "echo", "echo", "int32", 100, 16, 64, false, "msgs/s"},
		{"S5", fmt.Sprintf("%d idle conns", idleConns), "idle", "echo", "line", idleConns, 0, 16, false, "B/conn"},
		{"S6", "churn: connect, echo 64 B, close; 32 at a time", "churn", "echo", "line", 32, 0, 64, false, "conns/s"},
		{"S7", "chat fan-out, 100 clients, 4 in flight each", "fanout", "chat", "line", 100, 4, 64, false, "deliveries/s"},
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
			return nil, fmt.Errorf("unknown scenario %q (S1–S7)", id)
		}
	}
	return out, nil
}
