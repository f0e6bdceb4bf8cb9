package weft

import (
	"fmt"
	"time"
)

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

// DebugState describes the runtime state of the connection behind t (a
// Transport made by weft), for a test's failure message: the close state,
// the b* bits, the flags and runner state, what is buffered, and the
// pending TLS switch, close timer and producer.
func DebugState(t Transport) string {
	tr, ok := t.(*transport)
	if !ok {
		return fmt.Sprintf("not a weft Transport (%T)", t)
	}
	c := (*Conn)(tr)
	c.mu.Lock()
	defer c.mu.Unlock()
	s := fmt.Sprintf("state=%d bits=%#x flags=%#x rs=%#x fd=%d nio=%v sending=%d out=%d",
		c.state, c.bits, c.flags.Load(), c.rs.Load(), c.fd, c.nio != nil, c.sending, func() int {
			if c.out == nil {
				return -1
			}
			return len(*c.out)
		}())
	if c.nio != nil {
		s += fmt.Sprintf(" nc=%T raw=%T rc=%v linger=%v", c.nio.nc, c.nio.raw, c.nio.rc != nil, c.nio.linger != nil)
	}
	if x := c.x.Load(); x != nil {
		s += fmt.Sprintf(" tlsCfg=%v tlsOn=%v tlsClear=%d shakeWait=%v closeT=%v lastOut=%v ago producer=%T prodWant=%v prodIs=%v sockWait=%v wait=%v npend=%d",
			x.tlsCfg != nil, x.tlsOn, x.tlsClear, x.shakeWait, x.closeT != nil,
			time.Duration(monoNow()-x.lastOut.Load()), x.producer, x.prodWant, x.prodIs, x.sockWait, x.wait != nil, x.npend.Load())
	}
	return s
}
