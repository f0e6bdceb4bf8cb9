package process

import (
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// Direction says which way a child descriptor's pipe carries data, seen from
// the parent (Twisted's childFDs "w" and "r").
type Direction int

const (
	// Write: the parent writes (Write, WriteToChild), the child reads.
	Write Direction = iota + 1
	// Read: the child writes, the parent reads (ChildDataReceived).
	Read
)

// String returns "write" or "read".
func (d Direction) String() string {
	switch d {
	case Write:
		return "write"
	case Read:
		return "read"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// Defaults and limits for Options.
const (
	// DefaultMaxWriteBuffer bounds the bytes queued for one writable
	// descriptor.
	DefaultMaxWriteBuffer = 1 << 20
	// DefaultHighWater: above this many bytes queued for stdin a registered
	// producer is paused.
	DefaultHighWater = 64 << 10
	// DefaultLowWater: at or below this many bytes queued for stdin a paused
	// producer is resumed.
	DefaultLowWater = 16 << 10
	// DefaultReadBufferSize is the most bytes read from a descriptor (and
	// delivered to ChildDataReceived) at once.
	DefaultReadBufferSize = 32 << 10
	// MaxChildFD is the highest descriptor number ChildFDs may name.
	MaxChildFD = 255
	// MaxReadBufferSize is the largest ReadBufferSize accepted.
	MaxReadBufferSize = 16 << 20
)

// Options tunes Start. The zero value (or a nil *Options) gives the defaults;
// every field documents its zero value.
type Options struct {
	// ChildFDs maps each child descriptor that gets a pipe to the parent to
	// its direction: 0 stdin, 1 stdout, 2 stderr, 3 and up extra descriptors
	// (placed in Cmd.ExtraFiles; a gap, say 4 without 3, leaves the missing
	// descriptor closed in the child). Nil means {0: Write, 1: Read, 2: Read}
	// without the standard descriptors that the Cmd already sets (Stdin,
	// Stdout, Stderr), which are then left as the Cmd says. A descriptor named
	// here must not also be set in the Cmd (Stdin, Stdout, Stderr, or
	// ExtraFiles[fd-3] for 3 and up); the Cmd's other ExtraFiles are kept.
	// Standard descriptors not named get os.DevNull, as in os/exec.
	ChildFDs map[int]Direction
	// MaxWriteBuffer bounds the bytes queued for one writable descriptor; a
	// write that would pass it fails with ErrWriteBufferFull. Zero means
	// DefaultMaxWriteBuffer, or HighWater when that is set higher. Must be
	// at least HighWater.
	MaxWriteBuffer int
	// HighWater: above this many bytes queued for stdin (for a Stream, for
	// its WriteFD) a registered producer is paused, and when the queue is
	// full at MaxWriteBuffer (which only matters when the two are equal).
	// Zero means DefaultHighWater (or MaxWriteBuffer when that is set
	// lower).
	HighWater int
	// LowWater: at or below this many bytes queued for stdin (for a Stream,
	// for its WriteFD) a paused producer is resumed. Zero means
	// DefaultLowWater (or HighWater/4 when that is lower). Must not exceed
	// HighWater.
	LowWater int
	// ReadBufferSize is the most bytes read from a descriptor and delivered
	// to ChildDataReceived at once. Zero means DefaultReadBufferSize.
	ReadBufferSize int
	// WaitDelay bounds how long after the child exits the parent waits for
	// end of file on descriptors that are still open (a grandchild may
	// hold them). It discards nothing already written: once it passes,
	// each such descriptor delivers what its pipe holds (after
	// ResumeReading if reading is paused: ProcessEnded waits for that),
	// reading without waiting for more and at most 1 MiB, then is closed.
	// A descriptor closed so while still open, or not emptied, is reported:
	// ProcessEnded's status (and Wait's) is then a *ProcessTerminated, with
	// the child's exit code, that matches exec.ErrWaitDelay. It also
	// becomes the Cmd's WaitDelay, unless that is set, bounding the Cmd's
	// own copying for descriptors left to it (the status then matches
	// exec.ErrWaitDelay too). On systems other than Unix (Windows), where a
	// pipe cannot be read without waiting, the pipe is closed at once when
	// the delay passes, discarding what it holds, and the cut is reported.
	// Zero means no bound: wait for end of file on every descriptor, as
	// Twisted does.
	WaitDelay time.Duration
}

// resolved is Options with the defaults filled in.
type resolved struct {
	fds                  map[int]Direction
	max, high, low, read int
	waitDelay            time.Duration
}

// Validate reports the first invalid field, naming it. It checks the
// options alone; Start also checks them against the Cmd.
func (o *Options) Validate() error {
	_, err := o.resolve(nil)
	return err
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
}

// resolve fills in the defaults and checks the options against cmd (when not
// nil).
func (o *Options) resolve(cmd *exec.Cmd) (resolved, error) {
	var r resolved
	if o != nil {
		r = resolved{o.ChildFDs, o.MaxWriteBuffer, o.HighWater, o.LowWater, o.ReadBufferSize, o.WaitDelay}
	}
	switch {
	case r.max < 0:
		return r, invalid("Options.MaxWriteBuffer %d is negative", r.max)
	case r.high < 0:
		return r, invalid("Options.HighWater %d is negative", r.high)
	case r.low < 0:
		return r, invalid("Options.LowWater %d is negative", r.low)
	case r.read < 0:
		return r, invalid("Options.ReadBufferSize %d is negative", r.read)
	case r.read > MaxReadBufferSize:
		return r, invalid("Options.ReadBufferSize %d exceeds MaxReadBufferSize %d", r.read, MaxReadBufferSize)
	case r.waitDelay < 0:
		return r, invalid("Options.WaitDelay %v is negative", r.waitDelay)
	}
	if r.max == 0 {
		r.max = max(DefaultMaxWriteBuffer, r.high)
	}
	if r.high == 0 {
		r.high = min(DefaultHighWater, r.max)
	}
	if r.low == 0 {
		r.low = min(DefaultLowWater, r.high/4)
	}
	if r.read == 0 {
		r.read = DefaultReadBufferSize
	}
	if r.low > r.high {
		return r, invalid("Options.LowWater %d exceeds HighWater %d", r.low, r.high)
	}
	if r.high > r.max {
		return r, invalid("Options.HighWater %d exceeds MaxWriteBuffer %d", r.high, r.max)
	}
	if r.fds == nil {
		r.fds = map[int]Direction{0: Write, 1: Read, 2: Read}
		if cmd != nil {
			if cmd.Stdin != nil {
				delete(r.fds, 0)
			}
			if cmd.Stdout != nil {
				delete(r.fds, 1)
			}
			if cmd.Stderr != nil {
				delete(r.fds, 2)
			}
		}
	} else {
		r.fds = maps.Clone(r.fds)
	}
	for _, fd := range slices.Sorted(maps.Keys(r.fds)) {
		if err := checkFD(fd, r.fds[fd], cmd); err != nil {
			return r, err
		}
	}
	return r, nil
}

func checkFD(fd int, d Direction, cmd *exec.Cmd) error {
	if fd < 0 || fd > MaxChildFD {
		return invalid("Options.ChildFDs: descriptor %d out of range [0, %d]", fd, MaxChildFD)
	}
	if d != Read && d != Write {
		return invalid("Options.ChildFDs[%d]: invalid %v", fd, d)
	}
	if cmd == nil {
		return nil
	}
	set := ""
	switch {
	case fd == 0 && cmd.Stdin != nil:
		set = "Cmd.Stdin"
	case fd == 1 && cmd.Stdout != nil:
		set = "Cmd.Stdout"
	case fd == 2 && cmd.Stderr != nil:
		set = "Cmd.Stderr"
	case fd >= 3 && fd-3 < len(cmd.ExtraFiles) && cmd.ExtraFiles[fd-3] != nil:
		set = fmt.Sprintf("Cmd.ExtraFiles[%d]", fd-3)
	}
	if set != "" {
		return invalid("Options.ChildFDs[%d] conflicts with %s, which is already set", fd, set)
	}
	return nil
}

// checkNUL reports a NUL byte in what the Cmd passes to execve, which cannot
// carry one: fork/exec would only say "invalid argument" (and a Dir holding
// one "environment variable contains NUL").
func checkNUL(cmd *exec.Cmd) error {
	bad := func(field, v string) error {
		if i := strings.IndexByte(v, 0); i >= 0 {
			return invalid("%s %q holds a NUL byte at %d", field, v, i)
		}
		return nil
	}
	if err := bad("Cmd.Path", cmd.Path); err != nil {
		return err
	}
	if err := bad("Cmd.Dir", cmd.Dir); err != nil {
		return err
	}
	for i, a := range cmd.Args {
		if err := bad(fmt.Sprintf("Cmd.Args[%d]", i), a); err != nil {
			return err
		}
	}
	for i, e := range cmd.Env {
		if err := bad(fmt.Sprintf("Cmd.Env[%d]", i), e); err != nil {
			return err
		}
	}
	return nil
}
