package weft

import (
	"math/rand/v2"
	"testing"
)

// TestFDTableModel drives fdTable with random sets and removes and checks
// every answer against a map.
func TestFDTableModel(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		var tab fdTable
		model := map[int]*Conn{}
		conns := make([]*Conn, 8)
		for i := range conns {
			conns[i] = new(Conn)
		}
		maxFD := []int{16, 3000, 70000}[seed%3]
		for range 2000 {
			fd := r.IntN(maxFD)
			c := conns[r.IntN(len(conns))]
			switch r.IntN(3) {
			case 0:
				tab.set(fd, c)
				model[fd] = c
			case 1:
				got := tab.remove(fd, c)
				want := model[fd] == c
				if want {
					delete(model, fd)
				}
				if got != want {
					t.Fatalf("seed %d: remove(%d) = %v, want %v", seed, fd, got, want)
				}
			default:
				if got := tab.get(fd); got != model[fd] {
					t.Fatalf("seed %d: get(%d) = %p, want %p", seed, fd, got, model[fd])
				}
			}
		}
		if got := len(tab.all()); got != len(model) {
			t.Fatalf("seed %d: all() has %d connections, want %d", seed, got, len(model))
		}
		for fd, c := range model {
			if tab.get(fd) != c {
				t.Fatalf("seed %d: get(%d) lost its connection", seed, fd)
			}
		}
	}
}

// TestFDTableEdges: descriptors outside the table, and nil.
func TestFDTableEdges(t *testing.T) {
	var tab fdTable
	c := new(Conn)
	if tab.get(-1) != nil || tab.get(0) != nil || tab.get(1<<20) != nil {
		t.Fatal("an empty table returned a connection")
	}
	if tab.remove(5, c) || tab.remove(-1, c) || tab.remove(5, nil) {
		t.Fatal("remove cleared a slot that did not hold the connection")
	}
	tab.set(fdChunk+3, c) // the second chunk only
	if tab.chunks[0] != nil {
		t.Error("set made a chunk it does not use")
	}
	if tab.get(fdChunk+3) != c || tab.get(3) != nil || tab.get(-1) != nil {
		t.Error("get after set")
	}
}

// TestFDTableNoGrowthGarbage: filling the table allocates one chunk per
// fdChunk descriptors and copies no slots (a single growing slice copied
// itself over and over, and the old copies stayed resident in an idle
// server).
func TestFDTableNoGrowthGarbage(t *testing.T) {
	var tab fdTable
	c := new(Conn)
	tab.set(0, c)
	allocs := testing.AllocsPerRun(1, func() {
		for fd := 1; fd < fdChunk; fd++ {
			tab.set(fd, c)
		}
	})
	if allocs != 0 {
		t.Errorf("filling a made chunk allocated %v times, want 0", allocs)
	}
	const n = 20 * fdChunk
	allocs = testing.AllocsPerRun(1, func() {
		var tab fdTable
		for fd := range n {
			tab.set(fd, c)
		}
	})
	// 20 chunks, and the chunk list grown by append (about log2(20)).
	if allocs > 20+8 {
		t.Errorf("filling %d descriptors allocated %v times, want about one per chunk", n, allocs)
	}
}
