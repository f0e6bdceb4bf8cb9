package server

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkIndex checks x's invariants and its contents against model.
func checkIndex(t *testing.T, x *connIndex, model map[uint64]*Conn, what string) {
	t.Helper()
	if x.len() != len(model) {
		t.Fatalf("%s: len %d, want %d", what, x.len(), len(model))
	}
	var prev uint64
	first := true
	for k, ch := range x.chunks {
		if ch.n == 0 {
			t.Fatalf("%s: chunk %d of %d is empty", what, k, len(x.chunks))
		}
		if k > 0 && x.chunks[k-1].n+ch.n <= idxCap/2 {
			t.Fatalf("%s: chunks %d and %d hold %d+%d entries: they should have been merged", what, k-1, k, x.chunks[k-1].n, ch.n)
		}
		for i := range ch.n {
			if !first && ch.id(i) <= prev {
				t.Fatalf("%s: IDs out of order: %d after %d", what, ch.id(i), prev)
			}
			prev, first = ch.id(i), false
			if model[ch.id(i)] != ch.cs[i] {
				t.Fatalf("%s: ID %d holds the wrong connection", what, ch.id(i))
			}
		}
		for i := ch.n; i < idxCap; i++ {
			if ch.cs[i] != nil {
				t.Fatalf("%s: chunk %d keeps a removed connection at %d", what, k, i)
			}
		}
	}
	all := x.all()
	if len(all) != len(model) {
		t.Fatalf("%s: all() has %d, want %d", what, len(all), len(model))
	}
	ids := make([]uint64, 0, len(model))
	for id := range model {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i, id := range ids {
		if all[i] != model[id] {
			t.Fatalf("%s: all()[%d] is not ID %d's connection (all() is in ID order)", what, i, id)
		}
	}
	// Memory stays proportional to the entries (see connIndex).
	if n := len(x.chunks); n > 2 && n > 4*len(model)/idxCap+2 {
		t.Fatalf("%s: %d chunks for %d connections", what, n, len(model))
	}
}

// TestConnIndexModel drives connIndex the way a server does (IDs mostly
// added in increasing order, some late, removals in any order) and in
// random orders, and checks every answer and the invariants against a map.
func TestConnIndexModel(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 2))
		var x connIndex
		model := map[uint64]*Conn{}
		next := uint64(1)
		var late []uint64 // IDs given out but not yet added (queued)
		steps := 3000 + r.IntN(3000)
		pAdd := 0.3 + r.Float64()*0.5 // filling, steady or draining
		for step := range steps {
			switch p := r.Float64(); {
			case p < pAdd:
				var id uint64
				switch {
				case len(late) > 0 && r.IntN(4) == 0:
					j := r.IntN(len(late))
					id = late[j]
					late = slices.Delete(late, j, j+1)
				case seed%4 == 3:
					id = r.Uint64N(1 << 40) // any order
				default:
					id = next
					next++
					if r.IntN(8) == 0 {
						late = append(late, id) // queued: added later
						continue
					}
				}
				c := &Conn{idf: id}
				if r.IntN(16) == 0 {
					c.idf |= cOverflow // the flag shares the ID's word
				}
				x.put(c)
				model[id] = c
			case p < pAdd+0.05:
				id := r.Uint64N(next + 2)
				if got := x.get(id); got != model[id] {
					t.Fatalf("seed %d step %d: get(%d) = %p, want %p", seed, step, id, got, model[id])
				}
			default:
				if len(model) == 0 {
					x.remove(r.Uint64N(next + 2)) // absent: no change
					continue
				}
				// Remove a random present ID (map order is random, but the
				// test draws its own).
				ids := make([]uint64, 0, len(model))
				for id := range model {
					ids = append(ids, id)
				}
				slices.Sort(ids)
				id := ids[r.IntN(len(ids))]
				x.remove(id)
				delete(model, id)
			}
			if step%97 == 0 {
				checkIndex(t, &x, model, fmt.Sprintf("seed %d", seed))
			}
		}
		checkIndex(t, &x, model, fmt.Sprintf("seed %d", seed))
		for id := range model {
			x.remove(id)
			delete(model, id)
		}
		checkIndex(t, &x, model, fmt.Sprintf("seed %d emptied", seed))
		if len(x.chunks) != 0 {
			t.Fatalf("seed %d: %d chunks left after every connection was removed", seed, len(x.chunks))
		}
	}
}

// TestConnIndexPutReplaces: put under a present ID replaces its connection.
func TestConnIndexPutReplaces(t *testing.T) {
	var x connIndex
	a, b := &Conn{idf: 7}, &Conn{idf: 7 | cOverflow}
	x.put(a)
	x.put(b)
	if x.len() != 1 || x.get(7) != b {
		t.Fatalf("len %d, get(7) = %p; want 1 and the second connection", x.len(), x.get(7))
	}
	x.remove(8)
	x.remove(7)
	x.remove(7)
	if x.len() != 0 || x.get(7) != nil {
		t.Fatal("remove")
	}
}

// TestConnIndexAppendStaysFull: connections added in ID order fill their
// chunks (a full last chunk is followed by a new one, not split), so 8
// bytes per connection is what the index costs a server filling up.
func TestConnIndexAppendStaysFull(t *testing.T) {
	var x connIndex
	const n = 100 * idxCap
	for id := uint64(1); id <= n; id++ {
		x.put(&Conn{idf: id})
	}
	if len(x.chunks) != 100 {
		t.Errorf("%d connections added in order take %d chunks, want 100", n, len(x.chunks))
	}

	// Registered a little out of order, as the setup goroutines of a
	// burst of accepts finish: each window of 8 IDs in a random order.
	r := rand.New(rand.NewPCG(1, 1))
	var y connIndex
	const m = n - n%8
	for base := uint64(1); base <= m; base += 8 {
		for _, j := range r.Perm(8) {
			y.put(&Conn{idf: base + uint64(j)})
		}
	}
	if y.len() != m || len(y.chunks) > 105 {
		t.Errorf("%d connections added nearly in order take %d chunks (len %d), want at most 105", m, len(y.chunks), y.len())
	}
}
