package weft

import "time"

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

// SetCloseLinger sets the close linger's time bound (closeLinger, 2 s) and
// returns a function that restores it.
func SetCloseLinger(d time.Duration) (restore func()) {
	old := lingerFor.Swap(int64(d))
	return func() { lingerFor.Store(old) }
}
