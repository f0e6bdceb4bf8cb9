package weft

// PendingWork returns the posted work a connection still holds (run or
// dropped work is not held).
func PendingWork(c *Conn) int {
	x := c.x.Load()
	if x == nil {
		return 0
	}
	x.pendMu.Lock()
	defer x.pendMu.Unlock()
	return len(x.pend)
}
