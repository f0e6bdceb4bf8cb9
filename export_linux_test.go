package weft

// SetMaxWorkers lowers the engine's worker bound for a test; it returns the
// function that restores it.
func SetMaxWorkers(n int) (restore func()) {
	old := maxWorkers
	maxWorkers = n
	return func() { maxWorkers = old }
}

// EngineTableLen returns how many descriptors the engine's table has slots
// for (whole chunks, made or not).
func EngineTableLen(e *Engine) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.conns.chunks) << fdChunkShift
}

// CallbacksIdle reports whether no callback (posted work included) of c runs
// now.
func CallbacksIdle(c *Conn) bool {
	if c.cbMu.TryLock() {
		c.cbMu.Unlock()
		return true
	}
	return false
}
