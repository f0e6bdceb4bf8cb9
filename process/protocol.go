package process

import "errors"

// ProcessProtocol reacts to the events of one child process (Twisted's
// ProcessProtocol). The package calls its methods one at a time, never
// concurrently, in this order: ConnectionMade once; then ChildDataReceived and
// ChildConnectionLost for the child's descriptors (each descriptor's data in
// stream order, then its ChildConnectionLost once); ProcessExited once when
// the child has been reaped (output may still be pending); ProcessEnded once,
// last, when the child has been reaped and every descriptor is closed. A
// ProcessProtocol therefore needs no mutex for its own state.
type ProcessProtocol interface {
	// ConnectionMade is called once the child has started, before any other
	// callback, with the Transport that writes to and controls it.
	ConnectionMade(t Transport)
	// ChildDataReceived is called with the bytes the child wrote to descriptor
	// fd (1 for stdout, 2 for stderr, 3 and up for extra descriptors). data is
	// only valid during the call: copy what must be kept.
	ChildDataReceived(fd int, data []byte)
	// ChildConnectionLost is called once for each descriptor in
	// Options.ChildFDs when its pipe is closed: end of output for a
	// descriptor the parent reads, closed or broken for one it writes
	// (on Linux as soon as the child, and every other process holding its
	// end, has closed it, as Twisted's ProcessWriter notices; elsewhere
	// when a write to it fails or the child is reaped).
	ChildConnectionLost(fd int)
	// ProcessExited is called when the child has been reaped. status is
	// ErrProcessDone or a *ProcessTerminated, never nil.
	ProcessExited(status error)
	// ProcessEnded is called last, once the child has been reaped and all its
	// descriptors are closed: all its output has been delivered. status is the
	// one given to ProcessExited, unless Options.WaitDelay closed a
	// descriptor that another process (a grandchild) still held open: then
	// it is a *ProcessTerminated with the same exit code and signal that also
	// matches exec.ErrWaitDelay, since output may have been cut.
	ProcessEnded(status error)
}

// Base implements ProcessProtocol with methods that do nothing; embed it and
// override the callbacks you need.
type Base struct{}

// ConnectionMade does nothing.
func (Base) ConnectionMade(Transport) {}

// ChildDataReceived does nothing.
func (Base) ChildDataReceived(int, []byte) {}

// ChildConnectionLost does nothing.
func (Base) ChildConnectionLost(int) {}

// ProcessExited does nothing.
func (Base) ProcessExited(error) {}

// ProcessEnded does nothing.
func (Base) ProcessEnded(error) {}

// Sentinel errors of the package.
var (
	// ErrProcessDone is the status of a child that exited with code 0 (not
	// killed by a signal). Twisted's ProcessDone.
	ErrProcessDone = errors.New("process: exited with status 0")
	// ErrProcessTerminated is matched (errors.Is) by every *ProcessTerminated.
	ErrProcessTerminated = errors.New("process: terminated")
	// ErrProcessExited is returned by Signal and Kill once the child has been
	// reaped (Twisted's ProcessExitedAlready).
	ErrProcessExited = errors.New("process: process already exited")
	// ErrBadFD: the descriptor is not one of Options.ChildFDs, or not in the
	// direction the operation needs (Twisted raises KeyError).
	ErrBadFD = errors.New("process: no such child descriptor")
	// ErrClosed is returned by writes to a descriptor that is closing or
	// closed (after CloseChildFD, a broken pipe, or the child's exit).
	ErrClosed = errors.New("process: descriptor closed")
	// ErrWriteBufferFull is returned by a write that would take the data
	// buffered for one descriptor past Options.MaxWriteBuffer. Nothing of it
	// is queued; the descriptor stays open.
	ErrWriteBufferFull = errors.New("process: write buffer full")
	// ErrInvalidOptions is wrapped by every Options and Cmd validation error.
	ErrInvalidOptions = errors.New("process: invalid options")
)
