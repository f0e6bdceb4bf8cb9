package server

import "sort"

// connIndex is the set of running connections by ID: what Get, Range, Len
// and Shutdown use. It is a sorted list of chunks, each a sorted array of up
// to idxCap entries. A Go map cost about 30 bytes per connection, and as a
// server filled up its growth left about as much again of garbage, which
// stayed resident (an idle connection's memory is a benchmarked goal); the
// chunks hold 8 bytes per connection and grow one chunk at a time.
//
// IDs are given at accept in increasing order, so connections are mostly
// added after the last one, or a little before it, and a full chunk is split
// after the new entry's place (a full last chunk is followed by a new one):
// chunks stay full. A connection that was queued joins later, in the
// middle, by splitting its chunk. Removals merge neighbours
// whose entries fit in half a chunk, so every two neighbouring chunks hold
// more than idxCap/2 entries: the chunks never take more than about four
// times the memory of their entries, whatever the order of removals.
//
// An entry is the connection alone (8 bytes): its ID is read from it, one
// pointer away, by the searches of put, get and remove, which are not on
// any data path. (With the IDs kept beside the connections an entry took
// 16 bytes.)
//
// The Server's mu guards it.
type connIndex struct {
	chunks []*idxChunk
	n      int
}

// idxCap makes an idxChunk 2,048 bytes, a size class.
const idxCap = 255

type idxChunk struct {
	n  int
	cs [idxCap]*Conn // cs[:n], sorted by ID
}

// id returns the ID of entry i.
func (ch *idxChunk) id(i int) uint64 { return ch.cs[i].ID() }

// search returns the position of id in ch, or where it would go.
func (ch *idxChunk) search(id uint64) int {
	return sort.Search(ch.n, func(i int) bool { return ch.id(i) >= id })
}

// len returns the number of connections.
func (x *connIndex) len() int { return x.n }

// chunkFor returns the index of the chunk id belongs in: the last one whose
// first ID is at most id, or 0.
func (x *connIndex) chunkFor(id uint64) int {
	k := sort.Search(len(x.chunks), func(i int) bool { return x.chunks[i].id(0) > id })
	return max(k-1, 0)
}

// get returns the connection with ID id, or nil.
func (x *connIndex) get(id uint64) *Conn {
	if len(x.chunks) == 0 {
		return nil
	}
	ch := x.chunks[x.chunkFor(id)]
	if i := ch.search(id); i < ch.n && ch.id(i) == id {
		return ch.cs[i]
	}
	return nil
}

// put adds c, or replaces the connection held under its ID.
func (x *connIndex) put(c *Conn) {
	id := c.ID()
	if len(x.chunks) == 0 {
		// The first entry: a chunk is never empty (chunkFor reads the
		// first ID of each).
		ch := new(idxChunk)
		ch.cs[0], ch.n = c, 1
		x.chunks = append(x.chunks, ch)
		x.n++
		return
	}
	k := x.chunkFor(id)
	ch := x.chunks[k]
	i := ch.search(id)
	if i < ch.n && ch.id(i) == id {
		ch.cs[i] = c
		return
	}
	x.n++
	split := ch.n == idxCap
	if split {
		// Split after the new entry's place when it is in the chunk's
		// second half: IDs registered a little out of order (setup
		// goroutines finish in any order) then leave full chunks behind,
		// where halves would leave them half empty. At the end of the
		// last chunk this makes a new chunk and moves nothing.
		at := max(idxCap/2, i)
		next := new(idxChunk)
		x.chunks = append(x.chunks, nil)
		copy(x.chunks[k+2:], x.chunks[k+1:])
		x.chunks[k+1] = next
		next.n = copy(next.cs[:], ch.cs[at:ch.n])
		clear(ch.cs[at:ch.n])
		ch.n = at
		if i >= at {
			ch, i = next, i-at
		}
	}
	copy(ch.cs[i+1:ch.n+1], ch.cs[i:ch.n])
	ch.cs[i] = c
	ch.n++
	if split {
		x.mergeAt(k + 1) // a short new chunk before a short one
	}
}

// remove takes the connection with ID id out, if it is there.
func (x *connIndex) remove(id uint64) {
	if len(x.chunks) == 0 {
		return
	}
	k := x.chunkFor(id)
	ch := x.chunks[k]
	i := ch.search(id)
	if i == ch.n || ch.id(i) != id {
		return
	}
	x.n--
	copy(ch.cs[i:], ch.cs[i+1:ch.n])
	ch.n--
	ch.cs[ch.n] = nil
	if ch.n == 0 {
		x.drop(k)
		x.mergeAt(k - 1)
		return
	}
	if !x.mergeAt(k) {
		x.mergeAt(k - 1)
	}
}

// mergeAt moves chunk k+1's entries into chunk k when they fit in half a
// chunk together, and reports whether it did.
func (x *connIndex) mergeAt(k int) bool {
	if k < 0 || k+1 >= len(x.chunks) {
		return false
	}
	a, b := x.chunks[k], x.chunks[k+1]
	if a.n+b.n > idxCap/2 {
		return false
	}
	copy(a.cs[a.n:], b.cs[:b.n])
	a.n += b.n
	x.drop(k + 1)
	return true
}

// drop removes chunk k from the list.
func (x *connIndex) drop(k int) {
	copy(x.chunks[k:], x.chunks[k+1:])
	x.chunks[len(x.chunks)-1] = nil
	x.chunks = x.chunks[:len(x.chunks)-1]
}

// all returns the connections in ID order.
func (x *connIndex) all() []*Conn {
	out := make([]*Conn, 0, x.n)
	for _, ch := range x.chunks {
		out = append(out, ch.cs[:ch.n]...)
	}
	return out
}
