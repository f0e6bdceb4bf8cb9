package weft

// SetMaxWorkers lowers the engine's worker bound for a test; it returns the
// function that restores it.
func SetMaxWorkers(n int) (restore func()) {
	old := maxWorkers
	maxWorkers = n
	return func() { maxWorkers = old }
}
