package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// Tests of the end of a child's output read while reading is paused (held
// until ResumeReading, delivered at once on a close by the parent) and of
// flow control following a Stream's WriteFD. They use real children; every
// wait is bounded generously, and no assertion depends on how fast the
// machine is: "nothing came while paused" is checked over a window in which
// a defect would show, and never fails a correct implementation.

// syncRec is a ProcessProtocol whose events can be read while the child
// runs. It fails the test if two callbacks run at once, or if an output
// callback (ChildDataReceived, or ChildConnectionLost of a Read descriptor)
// starts while paused is set (by code serialized with the callbacks).
type syncRec struct {
	t      *testing.T
	reads  map[int]bool // the Read descriptors
	inCall atomic.Int32
	paused bool // serialized: set and cleared by posted functions

	mu     sync.Mutex
	events []string
	data   map[int]*bytes.Buffer
	ended  error
	tr     Transport
	exited chan struct{}
	lostCh chan int

	onMade func(Transport)
	onLost func(fd int)
}

func newSyncRec(t *testing.T, reads ...int) *syncRec {
	r := &syncRec{t: t, reads: map[int]bool{}, data: map[int]*bytes.Buffer{},
		exited: make(chan struct{}), lostCh: make(chan int, 16)}
	for _, fd := range reads {
		r.reads[fd] = true
	}
	return r
}

func (r *syncRec) enter(what string) {
	if r.inCall.Add(1) != 1 {
		r.t.Errorf("%s: callbacks ran concurrently", what)
	}
}
func (r *syncRec) leave() { r.inCall.Add(-1) }

func (r *syncRec) add(e string) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *syncRec) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *syncRec) ConnectionMade(t Transport) {
	r.enter("ConnectionMade")
	defer r.leave()
	r.mu.Lock()
	r.tr = t
	r.mu.Unlock()
	r.add("made")
	if r.onMade != nil {
		r.onMade(t)
	}
}

func (r *syncRec) ChildDataReceived(fd int, data []byte) {
	r.enter("ChildDataReceived")
	defer r.leave()
	if r.paused {
		r.t.Errorf("ChildDataReceived(%d, %q) started while reading was paused", fd, data)
	}
	r.mu.Lock()
	if r.data[fd] == nil {
		r.data[fd] = new(bytes.Buffer)
	}
	r.data[fd].Write(data)
	r.mu.Unlock()
}

func (r *syncRec) ChildConnectionLost(fd int) {
	r.enter("ChildConnectionLost")
	defer r.leave()
	if r.paused && r.reads[fd] {
		r.t.Errorf("ChildConnectionLost(%d) started while reading was paused", fd)
	}
	r.add(fmt.Sprintf("lost %d", fd))
	if r.onLost != nil {
		r.onLost(fd)
	}
	r.lostCh <- fd
}

func (r *syncRec) ProcessExited(error) {
	r.enter("ProcessExited")
	defer r.leave()
	r.add("exited")
	close(r.exited)
}

func (r *syncRec) ProcessEnded(status error) {
	r.enter("ProcessEnded")
	defer r.leave()
	r.add("ended")
	r.mu.Lock()
	r.ended = status
	r.mu.Unlock()
}

func (r *syncRec) out(fd int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b := r.data[fd]; b != nil {
		return b.String()
	}
	return ""
}

// check asserts the contract on the events: made first, ended last and
// once, exited once, each of fds lost exactly once.
func (r *syncRec) check(fds ...int) {
	r.t.Helper()
	ev := r.snapshot()
	if len(ev) < 2 || ev[0] != "made" || ev[len(ev)-1] != "ended" {
		r.t.Fatalf("events %q: want made first and ended last", ev)
	}
	count := map[string]int{}
	for _, e := range ev {
		count[e]++
	}
	if count["ended"] != 1 || count["exited"] != 1 {
		r.t.Errorf("events %q: ended %d, exited %d times, want once each", ev, count["ended"], count["exited"])
	}
	for _, fd := range fds {
		if n := count[fmt.Sprintf("lost %d", fd)]; n != 1 {
			r.t.Errorf("events %q: descriptor %d lost %d times, want 1", ev, fd, n)
		}
	}
}

// lostReads returns the Read descriptors lost so far.
func (r *syncRec) lostReads() []string {
	var out []string
	for _, e := range r.snapshot() {
		var fd int
		if _, err := fmt.Sscanf(e, "lost %d", &fd); err == nil && r.reads[fd] {
			out = append(out, e)
		}
		if e == "ended" {
			out = append(out, e)
		}
	}
	return out
}

// pipeClosed reports whether the parent's end of r's pipe is closed: the
// reader has read its end (or the parent closed it).
func pipeClosed(r *reader) bool {
	rc, err := r.f.SyscallConn()
	if err != nil {
		return true
	}
	return rc.Control(func(uintptr) {}) != nil
}

// waitEndsRead waits (at most 10 s) until every reader of pr (those of fds
// only, if any are given) has read its end, and reports whether they did.
func waitEndsRead(pr *Process, fds ...int) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		all := true
		for _, r := range pr.readers {
			if len(fds) == 0 || slices.Contains(fds, r.fd) {
				all = all && pipeClosed(r)
			}
		}
		if all {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// pauseSerialized pauses reading from a posted function, so that the
// recorder's paused flag is exact.
func pauseSerialized(t *testing.T, pr *Process, r *syncRec) {
	t.Helper()
	done := make(chan struct{})
	pr.Post(func() {
		pr.PauseReading()
		r.paused = true
		close(done)
	})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a Post did not run within 10 s")
	}
}

func resumeSerialized(pr *Process, r *syncRec) {
	pr.Post(func() {
		r.paused = false
		pr.ResumeReading()
	})
}

func waitChan(t *testing.T, pr *Process, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		_ = pr.Kill()
		pr.LoseConnection()
		pr.ResumeReading()
		t.Fatalf("%s did not come within 10 s", what)
	}
}

// startBlocked starts a child whose readers are blocked in Read, then
// pauses: the child's ends are then read while paused.
func startBlocked(t *testing.T, script string, r *syncRec, opts *Options) *Process {
	t.Helper()
	pr, err := Start(context.Background(), exec.Command(lookPath(t, "sh"), "-c", script), r, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	// The child first writes a line on each descriptor and waits for a
	// line on stdin: once every line is delivered, every reader is back
	// in Read.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		all := true
		for fd := range r.reads {
			all = all && strings.HasPrefix(r.out(fd), "hi")
		}
		if all {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the readers go back to Read
	pauseSerialized(t, pr, r)
	return pr
}

// Every Read descriptor of the child (stdout, stderr, 3) ends while reading
// is paused, with and without Options.WaitDelay (whose timer passes while
// the ends are held): no ChildConnectionLost of those and no ProcessEnded
// until ResumeReading; then each is lost once, ProcessEnded comes last, and
// the status is the exit's (nothing was cut).
func TestHeldEndManyFDs(t *testing.T) {
	for _, delay := range []time.Duration{0, 50 * time.Millisecond} {
		t.Run(fmt.Sprint("WaitDelay=", delay), func(t *testing.T) {
			r := newSyncRec(t, 1, 2, 3)
			script := `echo hi; echo hi >&2; echo hi >&3; read x; exit 3`
			pr := startBlocked(t, script, r, &Options{
				ChildFDs:  map[int]Direction{0: Write, 1: Read, 2: Read, 3: Read},
				WaitDelay: delay,
			})
			if err := pr.CloseStdin(); err != nil { // the child exits
				t.Fatal(err)
			}
			waitChan(t, pr, r.exited, "ProcessExited")
			if !waitEndsRead(pr) {
				t.Errorf("the readers did not read their ends within 10 s")
			}
			time.Sleep(4*delay + 100*time.Millisecond) // WaitDelay passes
			if got := r.lostReads(); len(got) > 0 {
				t.Errorf("while paused: %q", got)
			}
			select {
			case <-pr.Done():
				t.Errorf("Done while the ends are held")
			default:
			}
			resumeSerialized(pr, r)
			err := waitBounded(t, pr)
			if code, _ := ExitStatus(err); code != 3 || errors.Is(err, exec.ErrWaitDelay) {
				t.Errorf("Wait = %v, want exit status 3, nothing cut", err)
			}
			r.check(0, 1, 2, 3)
		})
	}
}

// Kill while the ends are held (the child killed while reading is paused):
// the ends still wait for ResumeReading; ProcessEnded then reports the kill.
func TestHeldEndKill(t *testing.T) {
	r := newSyncRec(t, 1, 2)
	pr := startBlocked(t, `echo hi; echo hi >&2; exec sleep 30`, r, nil)
	if err := pr.Kill(); err != nil {
		t.Fatal(err)
	}
	waitChan(t, pr, r.exited, "ProcessExited")
	if !waitEndsRead(pr) {
		t.Errorf("the readers did not read their ends within 10 s")
	}
	time.Sleep(100 * time.Millisecond)
	if got := r.lostReads(); len(got) > 0 {
		t.Errorf("while paused: %q", got)
	}
	if err := pr.Kill(); !errors.Is(err, ErrProcessExited) {
		t.Errorf("Kill after the exit = %v, want ErrProcessExited", err)
	}
	resumeSerialized(pr, r)
	err := waitBounded(t, pr)
	if _, sig := ExitStatus(err); sig != syscall.SIGKILL {
		t.Errorf("Wait = %v, want killed by SIGKILL", err)
	}
	r.check(0, 1, 2)
}

// A close by the parent delivers a held end at once, still paused:
// CloseChildFD(1) delivers stdout's only; LoseConnection the rest, and
// ProcessEnded follows without any ResumeReading.
func TestHeldEndParentClose(t *testing.T) {
	r := newSyncRec(t, 1, 2)
	pr := startBlocked(t, `echo hi; echo hi >&2; read x; exit 0`, r, nil)
	// The paused flag is for the child's own ends: the parent's closes
	// are delivered while paused, by design.
	pr.Post(func() { r.paused = false })
	if err := pr.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	waitChan(t, pr, r.exited, "ProcessExited")
	if !waitEndsRead(pr) {
		t.Errorf("the readers did not read their ends within 10 s")
	}
	if err := pr.CloseChildFD(1); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for got := -1; got != 1; {
		select {
		case got = <-r.lostCh:
		case <-deadline:
			pr.ResumeReading()
			t.Fatalf("ChildConnectionLost(1) did not come within 10 s of CloseChildFD(1) while paused")
		}
	}
	time.Sleep(100 * time.Millisecond)
	if got := r.lostReads(); !slices.Equal(got, []string{"lost 1"}) {
		t.Errorf("after CloseChildFD(1) while paused: %q, want [lost 1]", got)
	}
	pr.LoseConnection()
	select {
	case <-pr.Done():
	case <-time.After(10 * time.Second):
		pr.ResumeReading()
		t.Fatal("ProcessEnded did not come within 10 s of LoseConnection while paused")
	}
	if err := pr.Wait(); err != nil {
		t.Errorf("Wait = %v, want nil", err)
	}
	r.check(0, 1, 2)
}

// A grandchild holds stdout while reading is paused and Options.WaitDelay
// passes: the output is cut only once reading resumes, what the pipe held is
// delivered, and the status says the output was cut.
func TestHeldEndGrandchildWaitDelay(t *testing.T) {
	r := newSyncRec(t, 1)
	pr := startBlocked(t, `echo hi; read x; echo more; sleep 2 & exit 0`, r, &Options{
		ChildFDs:  map[int]Direction{0: Write, 1: Read},
		WaitDelay: 50 * time.Millisecond,
	})
	if err := pr.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	waitChan(t, pr, r.exited, "ProcessExited")
	time.Sleep(300 * time.Millisecond) // WaitDelay passes
	if got := r.lostReads(); len(got) > 0 {
		t.Errorf("while paused: %q", got)
	}
	resumeSerialized(pr, r)
	err := waitBounded(t, pr)
	if !errors.Is(err, exec.ErrWaitDelay) {
		t.Errorf("Wait = %v, want it to match exec.ErrWaitDelay", err)
	}
	if got := r.out(1); got != "hi\nmore\n" {
		t.Errorf("stdout %q, want %q", got, "hi\nmore\n")
	}
	r.check(0, 1)
}

// Pause and resume storms (serialized with the callbacks, so that "no output
// callback while paused" is exact) while the child writes on stdout and
// stderr and ends: all the output, each descriptor lost once, ProcessEnded
// last, never two callbacks at once.
func TestHeldEndPauseStorm(t *testing.T) {
	sh := lookPath(t, "sh")
	script := `i=0; while [ $i -lt 300 ]; do echo o$i; echo e$i >&2; i=$((i+1)); done`
	var want1, want2 strings.Builder
	for i := range 300 {
		fmt.Fprintf(&want1, "o%d\n", i)
		fmt.Fprintf(&want2, "e%d\n", i)
	}
	for run := range 10 {
		r := newSyncRec(t, 1, 2)
		pr, err := Start(context.Background(), exec.Command(sh, "-c", script), r, &Options{ReadBufferSize: 7})
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		stormDone := make(chan struct{})
		go func() {
			defer close(stormDone)
			for {
				select {
				case <-stop:
					return
				default:
				}
				pr.Post(func() {
					if r.paused {
						r.paused = false
						pr.ResumeReading()
					} else {
						pr.PauseReading()
						r.paused = true
					}
				})
				time.Sleep(time.Duration(1+run%3*20) * 10 * time.Microsecond)
			}
		}()
		waitChan(t, pr, r.exited, "ProcessExited")
		time.Sleep(20 * time.Millisecond)
		close(stop)
		<-stormDone
		resumeSerialized(pr, r)
		if err := waitBounded(t, pr); err != nil {
			t.Errorf("run %d: Wait = %v", run, err)
		}
		if r.out(1) != want1.String() || r.out(2) != want2.String() {
			t.Errorf("run %d: output lost or reordered: %d and %d bytes, want %d and %d",
				run, len(r.out(1)), len(r.out(2)), want1.Len(), want2.Len())
		}
		r.check(0, 1, 2)
		if t.Failed() {
			return
		}
	}
}

// streamStorm is a weft.Protocol (HalfCloseable) that counts its callbacks.
type streamStorm struct {
	t      *testing.T
	inCall atomic.Int32
	mu     sync.Mutex
	data   strings.Builder
	events []string
	tr     weft.Transport
	made   chan struct{}
	lost   chan struct{}
	reason error
}

func (s *streamStorm) enter() func() {
	if s.inCall.Add(1) != 1 {
		s.t.Errorf("callbacks ran concurrently")
	}
	return func() { s.inCall.Add(-1) }
}

func (s *streamStorm) ConnectionMade(tr weft.Transport) {
	defer s.enter()()
	s.tr = tr
	close(s.made)
}
func (s *streamStorm) DataReceived(d []byte) {
	defer s.enter()()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data.Write(d)
	if n := len(s.events); n > 0 && s.events[n-1] != "data" {
		s.events = append(s.events, "data after "+s.events[n-1])
	}
}
func (s *streamStorm) ReadConnectionLost() {
	defer s.enter()()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, "readLost")
}
func (s *streamStorm) ConnectionLost(reason error) {
	defer s.enter()()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, "lost")
	s.reason = reason
	close(s.lost)
}

// The same storm through a Stream's weft.Transport, from another goroutine
// (its ResumeReading goes through Post): every line, ReadConnectionLost once
// after the last data, ConnectionLost once and last.
func TestHeldEndStreamPauseStorm(t *testing.T) {
	sh := lookPath(t, "sh")
	script := `i=0; while [ $i -lt 300 ]; do echo o$i; i=$((i+1)); done; exec >&-; sleep 0.2`
	var want strings.Builder
	for i := range 300 {
		fmt.Fprintf(&want, "o%d\n", i)
	}
	for run := range 10 {
		p := &streamStorm{t: t, made: make(chan struct{}), lost: make(chan struct{})}
		pr, err := Start(context.Background(), exec.Command(sh, "-c", script), NewStream(p), &Options{ReadBufferSize: 5})
		if err != nil {
			t.Fatal(err)
		}
		<-p.made
		stop := make(chan struct{})
		stormDone := make(chan struct{})
		go func() {
			defer close(stormDone)
			for i := 0; ; i++ {
				select {
				case <-stop:
					p.tr.ResumeReading()
					return
				default:
				}
				if i%2 == 0 {
					p.tr.PauseReading()
				} else {
					p.tr.ResumeReading()
				}
				time.Sleep(time.Duration(1+run%3*20) * 10 * time.Microsecond)
			}
		}()
		time.Sleep(300 * time.Millisecond)
		close(stop)
		<-stormDone
		select {
		case <-p.lost:
		case <-time.After(10 * time.Second):
			_ = pr.Kill()
			pr.ResumeReading()
			t.Fatalf("run %d: ConnectionLost did not come within 10 s", run)
		}
		if err := waitBounded(t, pr); err != nil {
			t.Errorf("run %d: Wait = %v", run, err)
		}
		p.mu.Lock()
		got, ev := p.data.String(), slices.Clone(p.events)
		p.mu.Unlock()
		if got != want.String() {
			t.Errorf("run %d: %d bytes, want %d", run, len(got), want.Len())
		}
		if !slices.Equal(ev, []string{"readLost", "lost"}) {
			t.Errorf("run %d: events %q, want [readLost lost]", run, ev)
		}
		if t.Failed() {
			return
		}
	}
}

// A Stream that paused after the child's output ended (the end is held)
// and then aborts: ConnectionLost(weft.ErrAborted) comes without a
// ResumeReading, and no ReadConnectionLost, before or after.
func TestHeldEndStreamAbort(t *testing.T) {
	p := &streamStorm{t: t, made: make(chan struct{}), lost: make(chan struct{})}
	cmd := exec.Command(lookPath(t, "sh"), "-c", `echo hi; read x; exec >&-; sleep 30`)
	pr, err := Start(context.Background(), cmd, NewStream(p), nil)
	if err != nil {
		t.Fatal(err)
	}
	<-p.made
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		got := p.data.String()
		p.mu.Unlock()
		if got == "hi\n" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the reader goes back to Read
	p.tr.PauseReading()
	if _, err := p.tr.Write([]byte("go\n")); err != nil { // the child closes stdout
		t.Fatal(err)
	}
	if !waitEndsRead(pr, 1) {
		t.Errorf("the reader did not read stdout's end within 10 s")
	}
	time.Sleep(100 * time.Millisecond)
	p.mu.Lock()
	early := slices.Clone(p.events)
	p.mu.Unlock()
	if len(early) > 0 {
		t.Errorf("while paused: %q", early)
	}
	p.tr.Abort()
	select {
	case <-p.lost:
	case <-time.After(10 * time.Second):
		pr.ResumeReading()
		t.Fatal("ConnectionLost did not come within 10 s of Abort while paused")
	}
	_ = waitBounded(t, pr)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Equal(p.events, []string{"lost"}) || !errors.Is(p.reason, weft.ErrAborted) {
		t.Errorf("events %q, ConnectionLost(%v); want [lost], weft.ErrAborted", p.events, p.reason)
	}
}

// countProducer counts its calls; StopProducing closes stopped once.
type countProducer struct {
	pauses, resumes, stops atomic.Int32
	stopped                chan struct{}
	onStop                 func()
}

func (p *countProducer) PauseProducing()  { p.pauses.Add(1) }
func (p *countProducer) ResumeProducing() { p.resumes.Add(1) }
func (p *countProducer) StopProducing() {
	if p.stops.Add(1) == 1 {
		if p.onStop != nil {
			p.onStop()
		}
		close(p.stopped)
	}
}

// A plain Process (not a Stream) still flow-controls by stdin's queue, even
// with another Write descriptor: a queue on descriptor 3 neither shows in
// Buffered or WriteRoom nor pauses the producer; stdin's does.
func TestProducerPlainProcessFollowsStdin(t *testing.T) {
	const big = 200 << 10
	prod := &countProducer{stopped: make(chan struct{})}
	r := newSyncRec(t, 1)
	var buf3, room3, buf0 int
	r.onMade = func(tr Transport) {
		pr := tr.(*Process)
		tr.RegisterProducer(prod)
		if err := tr.WriteToChild(3, make([]byte, big)); err != nil {
			t.Errorf("WriteToChild(3): %v", err)
		}
		buf3, room3 = tr.Buffered(), pr.WriteRoom()
		if _, err := tr.Write(make([]byte, big)); err != nil {
			t.Errorf("Write: %v", err)
		}
		buf0 = tr.Buffered()
		_ = tr.CloseChildFD(3)
		_ = tr.CloseStdin()
	}
	cmd := exec.Command(lookPath(t, "sh"), "-c", `sleep 0.3; cat <&3 >/dev/null; cat >/dev/null`)
	pr, err := Start(context.Background(), cmd, r, &Options{
		ChildFDs: map[int]Direction{0: Write, 1: Read, 3: Write},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitBounded(t, pr); err != nil {
		t.Errorf("Wait = %v", err)
	}
	if buf3 != 0 || room3 != DefaultMaxWriteBuffer {
		t.Errorf("with %d bytes queued on descriptor 3 only: Buffered %d, WriteRoom %d; want 0 and %d (stdin's)",
			big, buf3, room3, DefaultMaxWriteBuffer)
	}
	if buf0 < big {
		t.Errorf("Buffered %d after a %d-byte stdin write the child does not read yet, want at least that", buf0, big)
	}
	if prod.pauses.Load() == 0 || prod.resumes.Load() == 0 || prod.stops.Load() != 1 {
		t.Errorf("producer paused %d, resumed %d, stopped %d times; want paused and resumed by stdin's queue, stopped once",
			prod.pauses.Load(), prod.resumes.Load(), prod.stops.Load())
	}
	r.check(0, 1, 3)
}

// fd3Closer writes to a Stream's WriteFD 3 that the child closes while it
// goes on running.
type fd3Closer struct {
	t    *testing.T
	tr   weft.Transport
	prod *countProducer
	lost chan error
}

func (p *fd3Closer) ConnectionMade(tr weft.Transport) {
	p.tr = tr
	tr.RegisterProducer(p.prod)
	if _, err := tr.Write(make([]byte, 100<<10)); err != nil {
		p.t.Errorf("Write: %v", err)
	}
}
func (p *fd3Closer) DataReceived([]byte)         {}
func (p *fd3Closer) ConnectionLost(reason error) { p.lost <- reason }

// A Stream with WriteFD 3 whose child closes descriptor 3 and goes on
// running (stdin still open): the producer is stopped once, then, while the
// child still runs; Buffered and WriteRoom are 0; a producer registered
// afterwards is stopped at once; Write is weft.ErrClosed.
func TestProducerStreamWriteFDClosedByChild(t *testing.T) {
	prod := &countProducer{stopped: make(chan struct{})}
	p := &fd3Closer{t: t, prod: prod, lost: make(chan error, 1)}
	var running bool
	var buffered, room int
	var writeErr error
	late := &countProducer{stopped: make(chan struct{})}
	prod.onStop = func() {
		running = p.tr.(streamTransport).s.t.(*Process).Signal(syscall.Signal(0)) == nil
		buffered = p.tr.Buffered()
		room = p.tr.(weft.WriteRoomer).WriteRoom()
		_, writeErr = p.tr.Write([]byte("x"))
		p.tr.RegisterProducer(late)
	}
	s := &Stream{Protocol: p, WriteFD: 3}
	cmd := exec.Command(lookPath(t, "sh"), "-c", `sleep 0.2; exec 3<&-; read x; exit 0`)
	pr, err := Start(context.Background(), cmd, s, &Options{
		ChildFDs: map[int]Direction{0: Write, 1: Read, 3: Write},
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-prod.stopped:
	case <-time.After(10 * time.Second):
		_ = pr.Kill()
		t.Fatal("the producer was not stopped within 10 s of the child closing descriptor 3")
	}
	select {
	case <-late.stopped:
	case <-time.After(10 * time.Second):
		t.Error("a producer registered after descriptor 3 closed was not stopped within 10 s")
	}
	_ = pr.CloseStdin()
	select {
	case <-p.lost:
	case <-time.After(10 * time.Second):
		_ = pr.Kill()
		t.Fatal("ConnectionLost did not come within 10 s")
	}
	if err := pr.Wait(); err != nil {
		t.Errorf("Wait = %v", err)
	}
	if !running {
		t.Errorf("the producer was stopped only once the child ended, want when descriptor 3 closed")
	}
	if buffered != 0 || room != 0 || !errors.Is(writeErr, weft.ErrClosed) {
		t.Errorf("after descriptor 3 closed: Buffered %d, WriteRoom %d, Write %v; want 0, 0, weft.ErrClosed", buffered, room, writeErr)
	}
	if n := prod.stops.Load(); n != 1 {
		t.Errorf("StopProducing %d times, want 1", n)
	}
	if late.stops.Load() != 1 || late.pauses.Load() != 0 {
		t.Errorf("late producer: stopped %d, paused %d times; want 1, 0", late.stops.Load(), late.pauses.Load())
	}
}
