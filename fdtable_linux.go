package weft

// fdTable maps descriptors to the engine's connections. It is a two-level
// table of fixed chunks of fdChunk slots, made as descriptors reach them and
// never moved: a single slice grown one descriptor at a time copied itself
// over and over as a server filled up (about 40 bytes of garbage per
// connection at 19,000, a fifth of the heap an idle connection holds), and
// that garbage stayed resident. A slot costs 8 bytes; a chunk's memory is
// touched only where its slots are used. The engine's mu guards it.
type fdTable struct {
	chunks []*[fdChunk]*Conn
}

const (
	fdChunkShift = 10
	fdChunk      = 1 << fdChunkShift
)

// get returns the connection registered on fd, or nil.
func (t *fdTable) get(fd int) *Conn {
	i := fd >> fdChunkShift
	if fd < 0 || i >= len(t.chunks) || t.chunks[i] == nil {
		return nil
	}
	return t.chunks[i][fd&(fdChunk-1)]
}

// set registers c on fd (fd ≥ 0), making its chunk if needed.
func (t *fdTable) set(fd int, c *Conn) {
	i := fd >> fdChunkShift
	if i >= len(t.chunks) {
		t.chunks = append(t.chunks, make([]*[fdChunk]*Conn, i+1-len(t.chunks))...)
	}
	if t.chunks[i] == nil {
		t.chunks[i] = new([fdChunk]*Conn)
	}
	t.chunks[i][fd&(fdChunk-1)] = c
}

// remove clears fd's slot if it holds c, and reports whether it did.
func (t *fdTable) remove(fd int, c *Conn) bool {
	if c == nil || t.get(fd) != c {
		return false
	}
	t.chunks[fd>>fdChunkShift][fd&(fdChunk-1)] = nil
	return true
}

// all returns the registered connections, by descriptor.
func (t *fdTable) all() []*Conn {
	var live []*Conn
	for _, ch := range t.chunks {
		if ch == nil {
			continue
		}
		for _, c := range ch {
			if c != nil {
				live = append(live, c)
			}
		}
	}
	return live
}
