package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/weftkit/weft"
)

// Transport is a running child as its ProcessProtocol sees it (Twisted's
// IProcessTransport). Every method is safe to call from any goroutine, at any
// time, including from the protocol's own callbacks.
type Transport interface {
	// Write queues a copy of p for the child's stdin (descriptor 0) and
	// returns at once; see WriteToChild.
	io.Writer
	// WriteToChild queues a copy of data for descriptor fd, which must be a
	// Write descriptor of Options.ChildFDs (ErrBadFD otherwise), and returns
	// at once; a goroutine writes it. It returns ErrClosed once the
	// descriptor is closing or closed, and ErrWriteBufferFull (queueing
	// nothing) if data would take the queue past Options.MaxWriteBuffer.
	WriteToChild(fd int, data []byte) error
	// CloseStdin closes the child's stdin after the data queued for it is
	// written: CloseChildFD(0).
	CloseStdin() error
	// CloseChildFD closes descriptor fd: a Write descriptor after its queued
	// data is written, a Read descriptor at once (data the child writes to it
	// afterwards is lost). ChildConnectionLost(fd) follows. ErrBadFD if fd is
	// not in Options.ChildFDs. Idempotent.
	CloseChildFD(fd int) error
	// LoseConnection closes every descriptor: CloseChildFD on each.
	LoseConnection()
	// Signal sends sig to the child; ErrProcessExited once it was reaped.
	Signal(sig os.Signal) error
	// Kill sends SIGKILL to the child; ErrProcessExited once it was reaped.
	Kill() error
	// Pid is the child's process id (still returned after it is reaped).
	Pid() int
	// PauseReading stops reading the child's descriptors: the child blocks
	// once the pipes are full. Nothing is lost. No ChildDataReceived starts
	// after it returns until ResumeReading: data already read waits, and so
	// does the ChildConnectionLost of a descriptor whose end was read
	// (unless the parent closes it: CloseChildFD, LoseConnection).
	PauseReading()
	// ResumeReading restarts reading after PauseReading.
	ResumeReading()
	// RegisterProducer registers a producer that is paused while more than
	// Options.HighWater bytes are queued for stdin (for a Stream, for its
	// WriteFD), or the queue is full at Options.MaxWriteBuffer, and resumed
	// at Options.LowWater; StopProducing is called when that descriptor
	// closes (at once if it has already closed, or if ChildFDs has no pipe
	// for it). Its calls are serialized with the protocol's callbacks.
	RegisterProducer(p weft.Producer)
	// UnregisterProducer removes the registered producer.
	UnregisterProducer()
	// Buffered returns the bytes queued for stdin (for a Stream, for its
	// WriteFD) and not yet written.
	Buffered() int
	// Post runs fn serialized with the protocol's callbacks (after the
	// running one, if any), for example from a timer. It never blocks:
	// called outside the callbacks, it never runs fn or a callback on the
	// caller's goroutine. As the runtime's Post never runs work after
	// ConnectionLost (weft.Conn.Post), fn never runs after ProcessEnded:
	// work still waiting when ProcessEnded is called is dropped then, and
	// work posted from then on (from ProcessEnded itself, from another
	// goroutine while it runs, or later) is dropped at once. Dropped work
	// is released, never run and not reported; Done and Context are done
	// once ProcessEnded has returned. A nil fn is ignored.
	Post(fn func())
	// Context returns a context that is done once ProcessEnded has returned.
	Context() context.Context
}

// Process is a child started by Start. It implements Transport. The zero
// Process is not a child: Wait, Signal, Kill, Write, WriteToChild,
// CloseStdin and CloseChildFD return an error saying so, Done and Context
// are done, Pid is 0, RegisterProducer stops its producer at once and the
// other methods do nothing.
type Process struct {
	cmd   *exec.Cmd
	proto ProcessProtocol
	opt   resolved
	ser   serializer
	wg    sync.WaitGroup // every goroutine started for the child

	readers []*reader
	writers map[int]*writer // fixed after Start

	ctx    context.Context // done once ProcessEnded returned
	cancel context.CancelFunc
	ended  chan struct{}

	mu        sync.Mutex
	status    error // set when reaped
	killCause error // the context's cause, if it killed the child
	pauseCh   chan struct{}
	prodFD    int  // the descriptor flow control follows: 0 (stdin), or a Stream's WriteFD; set by Start
	prodWant  bool // prodFD's queue is above the high-water mark, or full
	prodPend  bool // a pause was wanted since the producer was last told (syncProducer)
	delay     *time.Timer

	// Serialized state: touched only by functions run by ser.
	open      int   // descriptors not yet lost
	cut       []int // descriptors whose output Options.WaitDelay cut
	exitSeen  bool
	endSeen   bool
	producer  weft.Producer
	prodTold  bool // the producer was told to pause
	prodLost  bool // ChildConnectionLost(prodFD) came: a producer is stopped at once
	endStatus error
}

// Start starts cmd with pipes on the descriptors named by opts.ChildFDs and
// drives p with the child's events. opts may be nil for the defaults.
// ConnectionMade runs on the caller's goroutine before Start returns.
// Cancelling ctx kills the child (SIGKILL); the status then wraps the
// context's cause. Start returns an error wrapping ErrInvalidOptions when ctx
// is nil or cmd, p or opts are unusable (cmd must not have been started,
// must not set what ChildFDs names, and its Path, Args, Env and Dir must hold
// no NUL byte; a *Stream needs its Protocol, a ReadFD and a WriteFD in
// range that ChildFDs does not give the other direction, and must not have
// run a child before), an error wrapping ctx's error when ctx is done
// already, or the error of exec.Cmd.Start; no callback is called then. A
// Cmd's WaitDelay left zero becomes Options.WaitDelay.
func Start(ctx context.Context, cmd *exec.Cmd, p ProcessProtocol, opts *Options) (*Process, error) {
	switch {
	case ctx == nil:
		return nil, invalid("nil context.Context")
	case cmd == nil:
		return nil, invalid("nil *exec.Cmd")
	case p == nil:
		return nil, invalid("nil ProcessProtocol")
	case isBadStream(p):
		return nil, invalid("nil *Stream or Stream.Protocol")
	case cmd.Process != nil:
		return nil, invalid("Cmd %s was already started", cmd.Path)
	}
	if err := checkNUL(cmd); err != nil {
		return nil, err
	}
	opt, err := opts.resolve(cmd)
	if err != nil {
		return nil, err
	}
	if s, ok := p.(*Stream); ok {
		if err := s.check(opt.fds); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("process: start %s: %w", cmd.Path, err)
	}
	pr := &Process{cmd: cmd, proto: p, opt: opt, writers: map[int]*writer{}, ended: make(chan struct{})}
	if s, ok := p.(*Stream); ok {
		pr.prodFD = s.WriteFD // flow control follows what the Stream writes
	}
	childEnds, err := pr.makePipes()
	closeAll := func(files []*os.File) {
		for _, f := range files {
			f.Close()
		}
	}
	if err != nil {
		closeAll(childEnds)
		pr.closeParentEnds()
		return nil, err
	}
	if cmd.WaitDelay == 0 {
		// Options.WaitDelay also bounds the Cmd's own copying for the
		// descriptors left to it (a Stdout that is no *os.File, say):
		// a grandchild holding one would otherwise keep cmd.Wait, and
		// so ProcessExited, from ever coming.
		cmd.WaitDelay = opt.waitDelay
	}
	err = cmd.Start()
	closeAll(childEnds)
	if err != nil {
		pr.closeParentEnds()
		return nil, fmt.Errorf("process: start %s: %w", cmd.Path, err)
	}
	pr.ctx, pr.cancel = context.WithCancel(context.Background())
	pr.open = len(opt.fds)
	started := false
	defer func() {
		if !started { // ConnectionMade panicked: leave no child behind
			_ = cmd.Process.Kill()
			pr.closeParentEnds()
			_ = cmd.Wait()
			pr.cancel()
		}
	}()
	pr.ser.post(func() { p.ConnectionMade(pr) })
	started = true

	for _, w := range pr.writers {
		pr.wg.Add(2)
		go w.run()
		go w.watch()
	}
	for _, r := range pr.readers {
		pr.wg.Add(1)
		go r.run(opt.read)
	}
	pr.wg.Add(2) // the waiter and the context watcher
	stop := context.AfterFunc(ctx, func() {
		defer pr.wg.Done()
		pr.mu.Lock()
		pr.killCause = context.Cause(ctx)
		pr.mu.Unlock()
		_ = cmd.Process.Kill()
	})
	go pr.wait(stop)
	return pr, nil
}

// makePipes creates a pipe for every descriptor in ChildFDs, places the
// child's ends in the Cmd and keeps the parent's. It returns the child's ends,
// which the parent closes once the child has started.
func (pr *Process) makePipes() ([]*os.File, error) {
	var childEnds []*os.File
	// A copy: the caller's slice (which may hold its own files for other
	// descriptors) is not written to.
	pr.cmd.ExtraFiles = slices.Clone(pr.cmd.ExtraFiles)
	for _, fd := range slices.Sorted(maps.Keys(pr.opt.fds)) {
		dir := pr.opt.fds[fd]
		r, w, err := os.Pipe()
		if err != nil {
			return childEnds, fmt.Errorf("process: pipe for descriptor %d: %w", fd, err)
		}
		child, parent := r, w
		if dir == Read {
			child, parent = w, r
		}
		childEnds = append(childEnds, child)
		switch fd {
		case 0:
			pr.cmd.Stdin = child
		case 1:
			pr.cmd.Stdout = child
		case 2:
			pr.cmd.Stderr = child
		default:
			for len(pr.cmd.ExtraFiles) < fd-2 {
				pr.cmd.ExtraFiles = append(pr.cmd.ExtraFiles, nil)
			}
			pr.cmd.ExtraFiles[fd-3] = child
		}
		if dir == Read {
			pr.readers = append(pr.readers, &reader{fd: fd, f: parent, p: pr, closing: make(chan struct{})})
		} else {
			pr.writers[fd] = &writer{fd: fd, f: parent, p: pr, max: pr.opt.max, wake: make(chan struct{}, 1)}
		}
	}
	return childEnds, nil
}

func (pr *Process) closeParentEnds() {
	for _, r := range pr.readers {
		r.f.Close()
	}
	for _, w := range pr.writers {
		w.f.Close()
	}
}

// wait reaps the child, then closes the pipes to it and reports the exit.
func (pr *Process) wait(stopWatch func() bool) {
	defer pr.wg.Done()
	err := pr.cmd.Wait()
	if stopWatch() {
		pr.wg.Done() // the context watcher will never run
	}
	pr.mu.Lock()
	status := statusOf(pr.cmd.ProcessState, err, pr.killCause)
	pr.status = status
	if d := pr.opt.waitDelay; d > 0 && len(pr.readers) > 0 {
		pr.delay = time.AfterFunc(d, pr.cutReaders)
	}
	pr.mu.Unlock()
	// Nobody reads what is still queued for the child: drop it.
	for _, w := range pr.writers {
		w.abort()
	}
	pr.ser.post(func() {
		pr.proto.ProcessExited(status)
		pr.exitSeen = true
		pr.endStatus = status
		pr.maybeEnd()
	})
}

func (pr *Process) closeReaders() {
	for _, r := range pr.readers {
		r.close()
	}
}

// cutReaders runs once Options.WaitDelay has passed since the child was
// reaped: every reader still open delivers what its pipe holds, then closes
// it (see reader.drain).
func (pr *Process) cutReaders() {
	for _, r := range pr.readers {
		r.cut()
	}
}

// lost runs serialized when descriptor fd is closed; cut says that
// Options.WaitDelay closed it while another process could still write to it.
func (pr *Process) lost(fd int, cut bool) {
	if cut {
		pr.cut = append(pr.cut, fd)
	}
	if fd == pr.prodFD && pr.writers[fd] != nil {
		pr.prodLost = true
		if prod := pr.producer; prod != nil {
			pr.producer = nil
			prod.StopProducing()
		}
	}
	pr.proto.ChildConnectionLost(fd)
	pr.open--
	pr.maybeEnd()
}

// maybeEnd runs serialized: ProcessEnded once the child is reaped and every
// descriptor is lost.
func (pr *Process) maybeEnd() {
	if !pr.exitSeen || pr.open > 0 || pr.endSeen {
		return
	}
	pr.endSeen = true
	pr.mu.Lock()
	if pr.delay != nil {
		pr.delay.Stop()
	}
	pr.mu.Unlock()
	if len(pr.cut) > 0 {
		slices.Sort(pr.cut)
		pr.endStatus = withCause(pr.endStatus, fmt.Errorf(
			"process: descriptors %v still open %v after the child exited (Options.WaitDelay), output cut: %w",
			pr.cut, pr.opt.waitDelay, exec.ErrWaitDelay))
	}
	pr.ser.close() // the user's work posted from now on is dropped (Post)
	pr.proto.ProcessEnded(pr.endStatus)
	pr.cancel()
	close(pr.ended)
}

// Done returns a channel that is closed once ProcessEnded has returned.
// On the zero Process it is closed already.
func (pr *Process) Done() <-chan struct{} {
	if pr.ended == nil {
		return closedChan
	}
	return pr.ended
}

// closedChan is Done's channel for the zero Process.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// errNotStarted is returned by the methods of the zero Process.
var errNotStarted = errors.New("process: Process not made by Start")

// Wait waits until ProcessEnded has returned and every goroutine of the child
// has ended, then returns nil if the child exited with status 0 (and no
// output was cut), otherwise ProcessEnded's *ProcessTerminated. While
// reading is paused, the output waiting in a pipe, or its end, is kept for
// ResumeReading, Options.WaitDelay or not: ProcessEnded, and so Wait, come
// only after ResumeReading, LoseConnection or CloseChildFD of that
// descriptor. Do not call it from the protocol's callbacks (they must
// return for the child to end); use ProcessEnded there.
func (pr *Process) Wait() error {
	if pr.ended == nil {
		return errNotStarted
	}
	<-pr.ended
	pr.wg.Wait()
	pr.ser.waitIdle()
	if errors.Is(pr.endStatus, ErrProcessDone) {
		return nil
	}
	return pr.endStatus
}
