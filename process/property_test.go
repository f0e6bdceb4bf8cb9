//go:build unix

package process

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weftkit/weft"
	"go.uber.org/goleak"
)

// TestProcessProperty is a randomized, model-based test of the
// ProcessProtocol contract and of the Stream adapter. Each seed draws a
// child (this test binary re-executed: see init) that writes random chunks
// to its output descriptors, echoes part of what it reads from its input
// descriptors, may close any descriptor early, may leave a grandchild
// holding every descriptor still open, and exits with a random code or by a
// signal; and one of three ways to drive it (propMode): a ProcessProtocol
// with the default stdin, stdout and stderr; a ProcessProtocol with an
// explicit Options.ChildFDs, where a standard descriptor may have no pipe
// and one to three extra descriptors (3 to 6) go either way, maybe with a
// gap, which the Cmd's own ExtraFiles may fill; or a Stream running a
// weft.Protocol (a weft.HalfCloseable or not) over a drawn ReadFD and
// WriteFD, the other descriptors' data going to OtherData. The parent
// feeds the descriptors it writes from callbacks, goroutines and a
// Producer, closes them (early or not; for a Stream by LoseConnection,
// weft.LoseWriteConnection or LoseConnectionWithReason), pauses and
// resumes reading, signals or kills the child, cancels the context, closes
// descriptors either way (CloseChildFD) and calls LoseConnection (for a
// Stream, Abort, from a callback or a goroutine). The oracle checks what
// the package documents: callbacks never concurrent, no data while reading
// is paused, each descriptor's bytes exactly those the child wrote (a
// prefix only where the contract allows a cut: the parent closed that
// descriptor, killed the child, or Options.WaitDelay cut a pipe a
// grandchild held), every end callback once and before ProcessEnded (a
// Stream's ReadConnectionLost once, before ConnectionLost, and none and no
// data after Abort), the status (a Stream's ConnectionLost reason: nil, the
// status, the reason given, weft.ErrAborted), the errors of writes after a
// close, that a gap in ChildFDs has no pipe in the child, and no
// goroutine, descriptor or zombie left.
//
// WEFT_PROCESS_SEED=a,b,c runs those seeds; WEFT_PROCESS_SEEDS=n runs n
// seeds from WEFT_PROCESS_SEED_BASE (default 1).
func TestProcessProperty(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && runtime.GOOS != "freebsd" {
		t.Skip("the re-executed child needs a Unix test binary")
	}
	seeds := propSeeds(t)
	for _, seed := range seeds {
		ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runPropSeed(t, seed)
		})
		if !ok {
			t.Logf("reproduce: WEFT_PROCESS_SEED=%d go test -race -count=1 -run 'TestProcessProperty' ./process", seed)
		}
	}
}

func propSeeds(t *testing.T) []uint64 {
	if s := os.Getenv("WEFT_PROCESS_SEED"); s != "" {
		var out []uint64
		for f := range strings.SplitSeq(s, ",") {
			v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				t.Fatalf("WEFT_PROCESS_SEED %q: %v", s, err)
			}
			out = append(out, v)
		}
		return out
	}
	n, base := 24, uint64(1)
	if testing.Short() {
		n = 6
	}
	if s := os.Getenv("WEFT_PROCESS_SEEDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("WEFT_PROCESS_SEEDS %q: want a positive count", s)
		}
		n = v
	}
	if s := os.Getenv("WEFT_PROCESS_SEED_BASE"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("WEFT_PROCESS_SEED_BASE %q: %v", s, err)
		}
		base = v
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = base + uint64(i)
	}
	return out
}

// --- the plan, drawn from the seed by the parent and the child alike ---

type stepKind int

const (
	stepWrite stepKind = iota // write n bytes to fd
	stepEcho                  // read n bytes of src (fewer at EOF), write them to fd
	stepClose                 // close fd
	stepSleep                 // sleep n milliseconds
)

type propStep struct {
	kind stepKind
	fd   int
	src  int // stepEcho: the descriptor read (0, stdin, in the classic mode)
	n    int
}

// propMode says how the parent drives the child.
type propMode int

const (
	// modeClassic: a ProcessProtocol, Options.ChildFDs nil (stdin, stdout,
	// stderr).
	modeClassic propMode = iota
	// modeFDs: a ProcessProtocol, Options.ChildFDs explicit: a standard
	// descriptor may be left out (os.DevNull), extra descriptors 3 and up
	// in either direction, maybe a gap left closed.
	modeFDs
	// modeStream: a Stream runs a weft.Protocol over ReadFD and WriteFD
	// (drawn from ChildFDs as in modeFDs), the other descriptors' data
	// going to OtherData.
	modeStream
)

func (m propMode) String() string {
	return [...]string{"classic", "fds", "stream"}[m]
}

// propMaxFD is the highest descriptor a plan gives a pipe.
const propMaxFD = 6

// propInput is how the parent feeds a descriptor other than the main one
// (modeFDs: the extra descriptors it writes).
type propInput struct {
	extra      int  // bytes offered beyond what the child reads
	early      int  // -1, or close after this many bytes (< what the child reads)
	closeAtEnd bool // close once everything is written
}

type propPlan struct {
	seed uint64
	mode propMode
	// fds are the pipes: Options.ChildFDs (left nil in modeClassic, which
	// gives these three).
	fds map[int]Direction
	gap int // 0, or a descriptor below the highest extra one that has no pipe: closed in the child
	// userGap: the Cmd's own ExtraFiles give the gap a pipe of the test's,
	// which Start keeps: the child writes propGapMark to it.
	userGap bool
	// The child.
	steps      []propStep
	exitCode   int
	exitSig    syscall.Signal // 0: exit with exitCode
	grand      bool           // spawn a grandchild holding every descriptor still open
	grandDelay int            // ms before the grandchild writes its tail
	grandTail  int            // bytes the grandchild writes to grandFD
	grandFD    int            // 1, or an extra descriptor the parent reads
	grandHold  int            // ms it holds the pipes after that
	// The parent. The main feeder writes feedFD (stdin, or the Stream's
	// WriteFD), with the producer following it.
	opts          Options
	feedFD        int
	extraStdin    int  // bytes offered beyond what the child reads
	earlyClose    int  // -1, or close feedFD after this many bytes (< what the child reads)
	closeAtEnd    bool // close feedFD once everything is written
	feedDelayMS   int  // the goroutine's first write waits this long
	feedCallbacks bool
	inputs        map[int]propInput // modeFDs: the other descriptors the parent writes
	producer      int               // 0 none, 1 registered in ConnectionMade, 2 from a goroutine
	pauseProb     float64
	signalAt      int // -1, or signal once this many output bytes arrived (from a callback)
	signalAfterMS int // -1, or signal from a goroutine after this many ms
	signal        syscall.Signal
	cancelAfterMS int // -1, or cancel the context after this many ms
	loseAt        int // -1, or LoseConnection (modeStream: Abort) after this many output bytes
	closeFD       int // -1 none, else CloseChildFD(closeFD) after closeFDAt output bytes
	closeFDAt     int
	// modeStream.
	streamRead, streamWrite int  // Stream.ReadFD and WriteFD as set (0: the default)
	halfClose               bool // the Protocol is a weft.HalfCloseable
	streamClose             int  // feedFD closed by 0 LoseConnection, 1 LoseWriteConnection, 2 LoseConnectionWithReason (posted)
	abortAfterMS            int  // -1, or Abort from a goroutine after this many ms
	closeOnReadEnd          bool // ReadConnectionLost closes WriteFD, as the codec adapters do
}

func propSize(r *rand.Rand) int {
	switch x := r.IntN(10); {
	case x < 3:
		return r.IntN(65)
	case x < 6:
		return r.IntN(4 << 10)
	case x < 9:
		return r.IntN(64 << 10)
	default:
		return r.IntN(300 << 10)
	}
}

func newPropPlan(seed uint64) *propPlan {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	// What modeFDs and modeStream add is drawn from a stream of its own:
	// a classic plan draws what it did before they existed.
	r2 := rand.New(rand.NewPCG(seed, 0x51ed270b27a3f3c9))
	p := &propPlan{seed: seed, grandFD: 1, fds: map[int]Direction{0: Write, 1: Read, 2: Read}}
	closed := map[int]bool{}
	total := 0
	for range r.IntN(14) {
		var s propStep
		switch x := r.IntN(20); {
		case x < 11:
			s = propStep{kind: stepWrite, fd: 1 + r.IntN(2), n: propSize(r)}
		case x < 16:
			s = propStep{kind: stepEcho, fd: 1, n: propSize(r) / 2}
		case x < 18:
			s = propStep{kind: stepSleep, n: r.IntN(4)}
		default:
			fd := r.IntN(3)
			if closed[fd] {
				continue
			}
			closed[fd] = true
			s = propStep{kind: stepClose, fd: fd}
		}
		if total > 1200<<10 && (s.kind == stepWrite || s.kind == stepEcho) {
			continue
		}
		total += s.n
		p.steps = append(p.steps, s)
	}
	p.mode = propMode(r2.IntN(3))
	if p.mode != modeClassic {
		p.drawLayout(r2)
	}
	if r.IntN(3) == 0 {
		p.exitSig = []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGHUP}[r.IntN(3)]
		if p.exitSig == syscall.SIGHUP && signal.Ignored(syscall.SIGHUP) {
			// Run under nohup: the child inherits SIGHUP ignored and
			// could not die of it. Parent and child both see this, so
			// their plans agree.
			p.exitSig = syscall.SIGTERM
		}
	} else {
		p.exitCode = []int{0, 0, 0, 1, 3, 42, 255}[r.IntN(7)]
	}
	if r.IntN(5) == 0 {
		p.grand = true
		p.grandDelay = r.IntN(60)
		if r.IntN(2) == 0 {
			p.grandTail = propSize(r)
		}
		p.grandHold = r.IntN(80)
	}

	// The parent.
	switch r.IntN(4) {
	case 0:
		p.opts.MaxWriteBuffer = 4<<10 + r.IntN(64<<10)
		p.opts.HighWater = p.opts.MaxWriteBuffer / (1 + r.IntN(4))
		p.opts.LowWater = p.opts.HighWater / (1 + r.IntN(4))
	case 1:
		p.opts.HighWater = 1 + r.IntN(32<<10)
	}
	if r.IntN(3) == 0 {
		p.opts.ReadBufferSize = 1 + r.IntN(8<<10)
	}
	if p.grand && r.IntN(2) == 0 {
		p.opts.WaitDelay = time.Duration(10+r.IntN(150)) * time.Millisecond
	} else if r.IntN(6) == 0 {
		p.opts.WaitDelay = time.Duration(1+r.IntN(20)) * time.Millisecond
	}
	need := p.needed(p.feedFD)
	p.extraStdin = r.IntN(3) * propSize(r)
	p.earlyClose = -1
	if need > 0 && r.IntN(5) == 0 {
		p.earlyClose = r.IntN(need)
	}
	p.closeAtEnd = r.IntN(2) == 0
	// The goroutine always feeds (callbacks alone could wait for output
	// that needs stdin first), sometimes only after a while.
	p.feedDelayMS = r.IntN(3) * r.IntN(20)
	p.feedCallbacks = r.IntN(2) == 0
	p.producer = r.IntN(3)
	p.pauseProb = []float64{0, 0, 0.05, 0.3}[r.IntN(4)]
	p.signalAt, p.signalAfterMS, p.cancelAfterMS, p.loseAt, p.closeFD = -1, -1, -1, -1, -1
	p.signal = []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM}[r.IntN(2)]
	switch r.IntN(8) {
	case 0:
		p.signalAt = r.IntN(total + 1)
	case 1:
		p.signalAfterMS = r.IntN(150)
	case 2:
		p.cancelAfterMS = r.IntN(150)
	}
	if r.IntN(8) == 0 {
		p.loseAt = r.IntN(total + 1)
	}
	if r.IntN(6) == 0 {
		p.closeFD = 1 + r.IntN(2)
		p.closeFDAt = r.IntN(total + 1)
		if p.mode != modeClassic {
			// Any descriptor with a pipe, either direction.
			all := p.fdList(0)
			p.closeFD = all[r2.IntN(len(all))]
		}
	}
	p.abortAfterMS = -1
	if p.mode == modeStream {
		// Abort is the Stream's LoseConnection (loseAt), drawn more often.
		if p.loseAt < 0 && r2.IntN(5) == 0 {
			p.loseAt = r2.IntN(total + 1)
		}
		if r2.IntN(6) == 0 {
			p.abortAfterMS = r2.IntN(150)
		}
	}
	if p.mode == modeFDs {
		p.inputs = map[int]propInput{}
		for _, fd := range p.fdList(Write) {
			if fd == p.feedFD {
				continue
			}
			in := propInput{extra: r2.IntN(3) * propSize(r2), early: -1, closeAtEnd: r2.IntN(2) == 0}
			if n := p.needed(fd); n > 0 && r2.IntN(5) == 0 {
				in.early = r2.IntN(n)
			}
			p.inputs[fd] = in
		}
	}
	return p
}

// drawLayout draws the pipes of modeFDs and modeStream and moves some of the
// steps onto the extra descriptors.
func (p *propPlan) drawLayout(r *rand.Rand) {
	p.fds = map[int]Direction{}
	for fd, d := range []Direction{Write, Read, Read} {
		if r.IntN(8) == 0 {
			d = Write + Read - d // the other way: the parent reads stdin, writes stdout
		}
		if r.IntN(5) != 0 {
			p.fds[fd] = d
		}
	}
	top := 0
	for _, i := range r.Perm(propMaxFD - 2)[:1+r.IntN(3)] {
		fd := 3 + i
		p.fds[fd] = []Direction{Write, Read}[r.IntN(2)]
		top = max(top, fd)
	}
	for fd := 3; fd < top; fd++ {
		if _, ok := p.fds[fd]; !ok {
			p.gap = fd
			p.userGap = r.IntN(2) == 0
			break
		}
	}
	if p.mode == modeStream {
		reads := slices.DeleteFunc(p.fdList(Read), func(fd int) bool { return fd == 0 }) // ReadFD 0 means 1
		if len(reads) == 0 {
			p.fds[1] = Read
			reads = []int{1}
		}
		p.streamRead = reads[r.IntN(len(reads))]
		if p.streamRead == 1 && r.IntN(2) == 0 {
			p.streamRead = 0 // the default: stdout
		}
		writes := p.fdList(Write)
		if len(writes) == 0 {
			p.fds[0] = Write
			writes = []int{0}
		}
		p.streamWrite = writes[r.IntN(len(writes))]
		p.feedFD = p.streamWrite
		p.halfClose = r.IntN(3) != 0
		p.streamClose = r.IntN(3)
		p.closeOnReadEnd = p.halfClose && r.IntN(3) == 0
	}
	// Steps that wrote to stdout or stderr may write to the other
	// descriptors the parent reads (a stdin turned around included).
	var outs, extras []int
	for _, fd := range p.fdList(0) {
		if fd >= 3 {
			extras = append(extras, fd)
		}
		if p.fds[fd] == Read && (fd == 0 || fd >= 3) {
			outs = append(outs, fd)
		}
	}
	// The child reads what the parent writes: in modeFDs stdin (a pipe,
	// os.DevNull, or a pipe it cannot read, turned around) and the other
	// Write descriptors; through a Stream only its WriteFD, the only one
	// the Protocol can write (and close).
	srcs := []int{p.feedFD}
	if p.mode == modeFDs {
		for _, fd := range p.fdList(Write) {
			if fd != p.feedFD {
				srcs = append(srcs, fd)
			}
		}
	}
	for i := range p.steps {
		s := &p.steps[i]
		switch s.kind {
		case stepWrite:
			if len(outs) > 0 && r.IntN(2) == 0 {
				s.fd = outs[r.IntN(len(outs))]
			}
		case stepEcho:
			s.src = srcs[r.IntN(len(srcs))]
			if len(outs) > 0 && r.IntN(3) == 0 {
				s.fd = outs[r.IntN(len(outs))]
			}
		case stepClose:
			if r.IntN(2) == 0 {
				s.fd = extras[r.IntN(len(extras))]
			}
		}
	}
	if len(outs) > 0 && r.IntN(2) == 0 {
		p.grandFD = outs[r.IntN(len(outs))]
	}
}

// fdList returns the descriptors with a pipe in direction d (any for 0),
// sorted.
func (p *propPlan) fdList(d Direction) []int {
	var out []int
	for fd := range propMaxFD + 1 {
		if dd, ok := p.fds[fd]; ok && (d == 0 || dd == d) {
			out = append(out, fd)
		}
	}
	return out
}

// needed is how many bytes of descriptor fd the child reads if it gets them
// all.
func (p *propPlan) needed(fd int) int {
	n := 0
	for _, s := range p.steps {
		if s.kind == stepClose && s.fd == fd {
			break
		}
		if s.kind == stepEcho && s.src == fd {
			n += s.n
		}
	}
	return n
}

func (p *propPlan) childCloses(fd int) bool {
	return slices.ContainsFunc(p.steps, func(s propStep) bool { return s.kind == stepClose && s.fd == fd })
}

// readFD is the Stream's ReadFD in effect.
func (p *propPlan) readFD() int {
	if p.streamRead == 0 {
		return 1
	}
	return p.streamRead
}

// propBytes is the deterministic content of one chunk.
func propBytes(seed, tag uint64, n int) []byte {
	var k [32]byte
	binary.LittleEndian.PutUint64(k[0:], seed)
	binary.LittleEndian.PutUint64(k[8:], tag)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(k).Read(b)
	return b
}

const (
	tagStdin = 1 << 40 // plus the descriptor: what the parent offers it
	tagTail  = 2 << 40
	tagGap   = 3 << 40 // propGapMark
)

// expected returns what the child writes to each descriptor when the parent
// wrote the first accepted bytes of each descriptor it writes (inputs) and
// then closed it (or wrote at least what the child reads).
func (p *propPlan) expected(inputs map[int][]byte) map[int][]byte {
	bufs := map[int]*bytes.Buffer{}
	buf := func(fd int) *bytes.Buffer {
		if bufs[fd] == nil {
			bufs[fd] = new(bytes.Buffer)
		}
		return bufs[fd]
	}
	closed := map[int]bool{}
	off := map[int]int{}
	for i, s := range p.steps {
		switch s.kind {
		case stepWrite:
			if !closed[s.fd] {
				buf(s.fd).Write(propBytes(p.seed, uint64(i), s.n))
			}
		case stepEcho:
			if closed[s.src] {
				continue
			}
			in := inputs[s.src]
			n := min(s.n, max(0, len(in)-off[s.src]))
			if !closed[s.fd] {
				buf(s.fd).Write(in[off[s.src] : off[s.src]+n])
			}
			off[s.src] += n
		case stepClose:
			closed[s.fd] = true
		}
	}
	if p.grand && !closed[p.grandFD] {
		buf(p.grandFD).Write(propBytes(p.seed, tagTail, p.grandTail))
	}
	out := map[int][]byte{}
	for fd, b := range bufs {
		out[fd] = b.Bytes()
	}
	return out
}

// --- the child and the grandchild: this test binary, re-executed ---

const (
	propChildEnv = "WEFT_PROCESS_PROP_CHILD"
	propGrandEnv = "WEFT_PROCESS_PROP_GRANDCHILD"
)

func init() {
	if s := os.Getenv(propGrandEnv); s != "" {
		propGrandchild(s)
	}
	if s := os.Getenv(propChildEnv); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			os.Exit(90)
		}
		propChild(newPropPlan(seed))
	}
}

// propGapMark is what the child writes to the Cmd's own pipe at the gap.
func propGapMark(seed uint64) []byte { return propBytes(seed, tagGap, 100) }

// propFDPipe reports whether descriptor fd is open in this process and a
// pipe. (A gap left closed by Options.ChildFDs may hold a file by the time
// the child runs its init: the Go runtime opens its cgroup files at start.)
func propFDPipe(fd int) bool {
	var st syscall.Stat_t
	return syscall.Fstat(fd, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFIFO
}

func propChild(p *propPlan) {
	// A gap in ChildFDs is no pipe in the child, unless the Cmd's own
	// ExtraFiles give it one, and every descriptor it names is one.
	if p.gap != 0 && propFDPipe(p.gap) != p.userGap {
		os.Exit(94)
	}
	if p.userGap {
		f := os.NewFile(uintptr(p.gap), "gap")
		_, _ = f.Write(propGapMark(p.seed))
		f.Close()
	}
	for fd := range p.fds {
		if !propFDPipe(fd) {
			os.Exit(95)
		}
	}
	// A write to a pipe the parent closed fails instead of killing the
	// child: its status stays the planned one.
	signal.Ignore(syscall.SIGPIPE)
	files := map[int]*os.File{0: os.Stdin, 1: os.Stdout, 2: os.Stderr}
	for fd := range p.fds {
		if fd >= 3 {
			files[fd] = os.NewFile(uintptr(fd), fmt.Sprintf("fd%d", fd))
		}
	}
	closed := map[int]bool{}
	broken := map[int]bool{}
	write := func(fd int, b []byte) {
		if closed[fd] || broken[fd] || len(b) == 0 {
			return
		}
		if _, err := files[fd].Write(b); err != nil {
			broken[fd] = true // the parent closed it
		}
	}
	eof := map[int]bool{}
	for i, s := range p.steps {
		switch s.kind {
		case stepWrite:
			write(s.fd, propBytes(p.seed, uint64(i), s.n))
		case stepEcho:
			if closed[s.src] || eof[s.src] {
				continue
			}
			buf := make([]byte, s.n)
			n, err := io.ReadFull(files[s.src], buf)
			if err != nil {
				eof[s.src] = true
			}
			write(s.fd, buf[:n])
		case stepClose:
			closed[s.fd] = true
			files[s.fd].Close()
		case stepSleep:
			time.Sleep(time.Duration(s.n) * time.Millisecond)
		}
	}
	if p.grand {
		tail := p.grandTail
		if closed[p.grandFD] {
			tail = 0
		}
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%d,%d,%d,%d", propGrandEnv, p.seed, p.grandDelay, tail, p.grandHold, p.grandFD))
		for fd, f := range files {
			if closed[fd] {
				continue
			}
			switch fd {
			case 0:
				cmd.Stdin = f
			case 1:
				cmd.Stdout = f
			case 2:
				cmd.Stderr = f
			default:
				for len(cmd.ExtraFiles) < fd-2 {
					cmd.ExtraFiles = append(cmd.ExtraFiles, nil)
				}
				cmd.ExtraFiles[fd-3] = f
			}
		}
		if err := cmd.Start(); err != nil {
			os.Exit(91)
		}
	}
	if p.exitSig != 0 {
		_ = syscall.Kill(os.Getpid(), p.exitSig)
		time.Sleep(time.Minute)
		os.Exit(92)
	}
	os.Exit(p.exitCode)
}

func propGrandchild(s string) {
	signal.Ignore(syscall.SIGPIPE)
	var seed uint64
	var delay, tail, hold, fd int
	if _, err := fmt.Sscanf(s, "%d,%d,%d,%d,%d", &seed, &delay, &tail, &hold, &fd); err != nil {
		os.Exit(93)
	}
	time.Sleep(time.Duration(delay) * time.Millisecond)
	if tail > 0 {
		_, _ = os.NewFile(uintptr(fd), "tail").Write(propBytes(seed, tagTail, tail))
	}
	time.Sleep(time.Duration(hold) * time.Millisecond)
	os.Exit(0)
}

// --- the parent ---

type propEvent struct {
	kind string // made, data, lost, exited, ended, abort
	fd   int
}

// propIn is what the parent writes to one descriptor.
type propIn struct {
	data       []byte // the bytes offered, in order
	target     int    // how many of them to write
	closeAtEnd bool   // close the descriptor once target bytes are accepted
	accepted   int    // bytes of Write accepted
	done       bool
	closedBy   string // why the parent closed it, "" if it did not
}

// errPropReason is the reason a Stream's Protocol gives
// LoseConnectionWithReason.
var errPropReason = errors.New("property: closing with a reason")

type propHarness struct {
	t      *testing.T
	plan   *propPlan
	cancel context.CancelFunc
	stop   chan struct{}
	wg     sync.WaitGroup

	tr     Transport      // the ProcessProtocol's (modeClassic, modeFDs)
	st     weft.Transport // the Stream Protocol's (modeStream)
	proc   atomic.Pointer[Process]
	inCall atomic.Int32

	// Serialized state (callbacks and producer calls only).
	events      []propEvent
	data        [propMaxFD + 1]bytes.Buffer
	outBytes    int
	exited      error
	ended       error
	signalDone  bool
	loseDone    bool
	closeFDDone bool
	lostSeen    [propMaxFD + 1]bool
	prodState   string // "", "paused", "running", "stopped"
	prodStops   int
	abortSeen   bool // modeStream: Abort was called when ConnectionLost came
	reasonGiven bool // modeStream: LoseConnectionWithReason ran (posted), before ConnectionLost

	// Written by other goroutines too.
	mu           sync.Mutex
	in           map[int]*propIn // by descriptor the parent writes
	sent         []syscall.Signal
	cancelled    bool
	parentClosed [propMaxFD + 1]bool
	prodPaused   bool

	pauseMu sync.Mutex
	paused  bool

	wake      chan struct{}
	postAfter atomic.Bool // work posted from ProcessEnded (ConnectionLost) ran

	// modeStream: Abort was called (from a callback or a goroutine).
	abortCalled atomic.Bool
}

func runPropSeed(t *testing.T, seed uint64) {
	plan := newPropPlan(seed)
	t.Logf("plan: %s", plan)
	ignore := goleak.IgnoreCurrent()
	var fdsBefore map[string]string
	if runtime.GOOS == "linux" {
		// The runtime's poller opens its descriptors with the first pipe.
		if r, w, err := os.Pipe(); err == nil {
			r.Close()
			w.Close()
		}
		fdsBefore = propFDs(t)
	}

	h := &propHarness{t: t, plan: plan, stop: make(chan struct{}), wake: make(chan struct{}, 1), in: map[int]*propIn{}}
	if plan.fds[plan.feedFD] == Write {
		in := &propIn{target: plan.needed(plan.feedFD) + plan.extraStdin, closeAtEnd: plan.closeAtEnd || plan.earlyClose >= 0}
		if plan.earlyClose >= 0 {
			in.target = plan.earlyClose
		}
		in.data = propBytes(seed, tagStdin+uint64(plan.feedFD), in.target)
		h.in[plan.feedFD] = in
	}
	for fd, pin := range plan.inputs {
		in := &propIn{target: plan.needed(fd) + pin.extra, closeAtEnd: pin.closeAtEnd || pin.early >= 0}
		if pin.early >= 0 {
			in.target = pin.early
		}
		in.data = propBytes(seed, tagStdin+uint64(fd), in.target)
		h.in[fd] = in
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.cancel = cancel
	var err error
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", propChildEnv, seed))
	opts := plan.opts
	if plan.mode != modeClassic {
		opts.ChildFDs = maps.Clone(plan.fds)
	}
	// The Cmd's own descriptor at the gap: kept, and its slice not written.
	var gapR, gapW *os.File
	var extraFiles, extraOrig []*os.File
	var gapGot bytes.Buffer
	if plan.userGap {
		if gapR, gapW, err = os.Pipe(); err != nil {
			t.Fatal(err)
		}
		extraFiles = make([]*os.File, plan.gap-2)
		extraFiles[plan.gap-3] = gapW
		extraOrig = slices.Clone(extraFiles)
		cmd.ExtraFiles = extraFiles
	}
	var proto ProcessProtocol = h
	if plan.mode == modeStream {
		var sp weft.Protocol = &propStreamProto{h}
		if plan.halfClose {
			sp = &propHalfProto{propStreamProto{h}}
		}
		proto = &Stream{Protocol: sp, ReadFD: plan.streamRead, WriteFD: plan.streamWrite, OtherData: h.otherData}
	}
	pr, err := Start(ctx, cmd, proto, &opts)
	if gapW != nil {
		gapW.Close()
		h.goFunc(func() { _, _ = io.Copy(&gapGot, gapR) })
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	h.proc.Store(pr)
	h.goFunc(func() { h.feeder(plan.feedFD) })
	for fd := range plan.inputs {
		h.goFunc(func() { h.feeder(fd) })
	}
	if plan.producer == 2 {
		h.goFunc(func() { h.registerProducer() })
	}
	if d := plan.signalAfterMS; d >= 0 {
		h.goFunc(func() {
			select {
			case <-time.After(time.Duration(d) * time.Millisecond):
				h.signal(plan.signal)
			case <-h.stop:
			}
		})
	}
	if d := plan.abortAfterMS; d >= 0 {
		h.goFunc(func() {
			select {
			case <-time.After(time.Duration(d) * time.Millisecond):
				h.abort()
				// Whatever runs after this (serialized) started after
				// Abort returned: no data, no ReadConnectionLost.
				h.post(func() { h.events = append(h.events, propEvent{kind: "abort"}) })
			case <-h.stop:
			}
		})
	}
	if d := plan.cancelAfterMS; d >= 0 {
		h.goFunc(func() {
			select {
			case <-time.After(time.Duration(d) * time.Millisecond):
				h.mu.Lock()
				h.cancelled = true
				h.mu.Unlock()
				cancel()
			case <-h.stop:
			}
		})
	}

	waited := make(chan error, 1)
	go func() { waited <- pr.Wait() }()
	var waitErr error
	select {
	case waitErr = <-waited:
	case <-time.After(20 * time.Second):
		// Read h.events only after Wait: the callbacks may still run.
		t.Errorf("child %d: Wait did not return within 20s (Done closed: %v): killing it", pr.Pid(), propClosed(pr.Done()))
		h.resume()
		pr.LoseConnection()
		_ = pr.Kill()
		select {
		case waitErr = <-waited:
		case <-time.After(10 * time.Second):
			t.Fatalf("child %d: Wait still blocked after Kill and LoseConnection", pr.Pid())
		}
	}
	close(h.stop)
	h.wg.Wait()
	cancel()
	if gapR != nil {
		gapR.Close()
		h.mu.Lock()
		killed := len(h.sent) > 0 || h.cancelled
		h.mu.Unlock()
		if want := propGapMark(seed); !bytes.Equal(gapGot.Bytes(), want) && (!killed || !bytes.HasPrefix(want, gapGot.Bytes())) {
			t.Errorf("the Cmd's own pipe at descriptor %d: got %d bytes, want the child's %d", plan.gap, gapGot.Len(), len(want))
		}
		if !slices.Equal(extraFiles, extraOrig) {
			t.Errorf("Start wrote to the Cmd's ExtraFiles slice: %v, was %v", extraFiles, extraOrig)
		}
	}

	if plan.mode == modeStream {
		h.checkStream(pr, waitErr)
	} else {
		h.check(pr, waitErr)
	}

	// No zombie: the child was reaped by the package.
	if pid, err := syscall.Wait4(pr.Pid(), nil, syscall.WNOHANG, nil); !errors.Is(err, syscall.ECHILD) {
		t.Errorf("child %d not reaped: Wait4 = %d, %v", pr.Pid(), pid, err)
	}
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("goroutines left after Wait: %v", err)
	}
	if fdsBefore != nil {
		after := propFDs(t)
		for fd, what := range after {
			if _, ok := fdsBefore[fd]; !ok {
				t.Errorf("descriptor %s (%s) left open", fd, what)
			}
		}
	}
}

func (p *propPlan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v ", p.mode)
	if p.mode != modeClassic {
		b.WriteString("fds")
		for _, fd := range p.fdList(0) {
			fmt.Fprintf(&b, " %d:%v", fd, p.fds[fd])
		}
		if p.gap != 0 {
			fmt.Fprintf(&b, " gap %d (the Cmd's own pipe: %v)", p.gap, p.userGap)
		}
		b.WriteString(" | ")
	}
	for _, s := range p.steps {
		switch s.kind {
		case stepWrite:
			fmt.Fprintf(&b, "w%d:%d ", s.fd, s.n)
		case stepEcho:
			fmt.Fprintf(&b, "echo%d>%d:%d ", s.src, s.fd, s.n)
		case stepClose:
			fmt.Fprintf(&b, "close%d ", s.fd)
		case stepSleep:
			fmt.Fprintf(&b, "sleep:%d ", s.n)
		}
	}
	if p.exitSig != 0 {
		fmt.Fprintf(&b, "exit:%v ", p.exitSig)
	} else {
		fmt.Fprintf(&b, "exit:%d ", p.exitCode)
	}
	if p.grand {
		fmt.Fprintf(&b, "grandchild(delay %dms tail %d to %d hold %dms) ", p.grandDelay, p.grandTail, p.grandFD, p.grandHold)
	}
	fmt.Fprintf(&b, "| opts %+v feed %d extra %d earlyClose %d closeAtEnd %v feed(delay %dms cb %v) inputs %v producer %d pause %.2f signal %v at %d/%dms cancel %dms lose %d closeFD %d at %d",
		p.opts, p.feedFD, p.extraStdin, p.earlyClose, p.closeAtEnd, p.feedDelayMS, p.feedCallbacks, p.inputs, p.producer, p.pauseProb,
		p.signal, p.signalAt, p.signalAfterMS, p.cancelAfterMS, p.loseAt, p.closeFD, p.closeFDAt)
	if p.mode == modeStream {
		fmt.Fprintf(&b, " | Stream ReadFD %d WriteFD %d halfClose %v close %d (on read end %v) abort after %dms", p.streamRead, p.streamWrite, p.halfClose, p.streamClose, p.closeOnReadEnd, p.abortAfterMS)
	}
	return b.String()
}

func (h *propHarness) goFunc(fn func()) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		fn()
	}()
}

func (h *propHarness) enter(what string) {
	if h.inCall.Add(1) != 1 {
		h.t.Errorf("%s ran concurrently with another callback", what)
	}
}

func (h *propHarness) leave() { h.inCall.Add(-1) }

func (h *propHarness) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// ctl is the Transport that signals and closes descriptors: the
// ProcessProtocol's, or for a Stream the *Process Start returned (nil until
// it has returned).
func (h *propHarness) ctl() Transport {
	if h.plan.mode == modeStream {
		if pr := h.proc.Load(); pr != nil {
			return pr
		}
		return nil
	}
	return h.tr
}

// reading is what pauses and resumes reading: the Stream Protocol's
// weft.Transport, or the ProcessProtocol's Transport.
func (h *propHarness) reading() interface {
	PauseReading()
	ResumeReading()
} {
	if h.plan.mode == modeStream {
		return h.st
	}
	return h.tr
}

// post runs fn serialized with the callbacks (the Stream's weft.Transport's
// Post for a Stream).
func (h *propHarness) post(fn func()) {
	if h.plan.mode == modeStream {
		h.st.(interface{ Post(func()) }).Post(fn)
		return
	}
	h.tr.Post(fn)
}

func (h *propHarness) registerProducer() {
	if h.plan.mode == modeStream {
		h.st.RegisterProducer(&propProducer{h})
		return
	}
	h.tr.RegisterProducer(&propProducer{h})
}

// write writes b to descriptor fd: through the Stream's weft.Transport for
// its WriteFD, Write for stdin, WriteToChild otherwise.
func (h *propHarness) write(fd int, b []byte) error {
	switch {
	case h.plan.mode == modeStream:
		_, err := h.st.Write(b)
		return err
	case fd == 0:
		_, err := h.tr.Write(b)
		return err
	}
	return h.tr.WriteToChild(fd, b)
}

// feed writes the next chunk of descriptor fd (at most max bytes), closing
// it once the target is reached if the plan says so. It reports whether
// the feeding is over.
func (h *propHarness) feed(fd, max int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	in := h.in[fd]
	if in == nil || in.done {
		return true
	}
	if limit := h.plan.opts.MaxWriteBuffer; limit > 0 {
		max = min(max, limit)
	}
	n := min(max, in.target-in.accepted)
	if n > 0 {
		err := h.write(fd, in.data[in.accepted:in.accepted+n])
		switch {
		case err == nil:
			in.accepted += n
		case errors.Is(err, ErrWriteBufferFull):
			return false
		case errors.Is(err, ErrClosed):
			if h.plan.mode == modeStream && !errors.Is(err, weft.ErrClosed) {
				h.t.Errorf("Stream Write = %v, want an error matching weft.ErrClosed too", err)
			}
			if !h.closedAllowedLocked(fd) {
				h.t.Errorf("descriptor %d Write = %v after %d of the %d bytes the child reads, with no reason for it to be closed", fd, err, in.accepted, h.plan.needed(fd))
			}
			in.done = true
			return true
		default:
			h.t.Errorf("descriptor %d Write = %v, want nil, ErrWriteBufferFull or ErrClosed", fd, err)
			in.done = true
			return true
		}
	}
	if in.accepted < in.target {
		return false
	}
	in.done = true
	if in.closeAtEnd {
		h.closeInputLocked(fd, "close")
	}
	return true
}

// closeInputLocked closes descriptor fd, which the parent writes, after its
// queued data: CloseStdin or CloseChildFD, or for a Stream LoseConnection,
// weft.LoseWriteConnection or LoseConnectionWithReason (the last posted, so
// that it runs before ConnectionLost or not at all).
func (h *propHarness) closeInputLocked(fd int, why string) {
	// The child may have closed it, or ended, already.
	mayBeClosed := h.closedAllowedLocked(fd)
	if in := h.in[fd]; in.closedBy == "" {
		in.closedBy = why
	}
	closedAfter := func(what string) {
		_, err := h.st.Write([]byte("x"))
		if !errors.Is(err, ErrClosed) || !errors.Is(err, weft.ErrClosed) {
			h.t.Errorf("Stream Write after %s = %v, want an error matching ErrClosed and weft.ErrClosed", what, err)
		}
	}
	if h.plan.mode == modeStream {
		switch h.plan.streamClose {
		case 0:
			h.st.LoseConnection()
			closedAfter("LoseConnection")
		case 1:
			if err := weft.LoseWriteConnection(h.st); err != nil && (!mayBeClosed || !errors.Is(err, weft.ErrClosed)) {
				h.t.Errorf("LoseWriteConnection = %v, want nil (or weft.ErrClosed if the child may have closed WriteFD: %v)", err, mayBeClosed)
			}
			closedAfter("LoseWriteConnection")
			if err := weft.LoseWriteConnection(h.st); !errors.Is(err, weft.ErrClosed) {
				h.t.Errorf("second LoseWriteConnection = %v, want weft.ErrClosed", err)
			}
		case 2:
			h.post(func() {
				h.st.(weft.ReasonCloser).LoseConnectionWithReason(errPropReason)
				h.reasonGiven = true
				closedAfter("LoseConnectionWithReason")
			})
		}
		return
	}
	closeFD := func() error {
		if fd == 0 {
			return h.tr.CloseStdin()
		}
		return h.tr.CloseChildFD(fd)
	}
	if err := closeFD(); err != nil {
		h.t.Errorf("closing descriptor %d = %v, want nil", fd, err)
	}
	if err := h.write(fd, []byte("x")); !errors.Is(err, ErrClosed) {
		h.t.Errorf("Write to descriptor %d after closing it = %v, want ErrClosed", fd, err)
	}
	if err := closeFD(); err != nil {
		h.t.Errorf("closing descriptor %d again = %v, want nil (idempotent)", fd, err)
	}
}

// closedAllowedLocked reports whether descriptor fd may be closed now
// although the parent has not written everything the child reads of it.
func (h *propHarness) closedAllowedLocked(fd int) bool {
	in := h.in[fd]
	return in.closedBy != "" || h.parentClosed[fd] || in.accepted >= h.plan.needed(fd) || h.plan.childCloses(fd) ||
		len(h.sent) > 0 || h.cancelled
}

func (h *propHarness) feeder(fd int) {
	r := rand.New(rand.NewPCG(h.plan.seed, 7+uint64(fd)))
	select {
	case <-time.After(time.Duration(h.plan.feedDelayMS) * time.Millisecond):
	case <-h.stop:
		return
	}
	for {
		held := false
		if fd == h.plan.feedFD {
			h.mu.Lock()
			held = h.prodPaused
			h.mu.Unlock()
		}
		if !held && h.feed(fd, 1+propSize(r)) {
			return
		}
		select {
		case <-h.stop:
			return
		case <-h.wake:
		case <-time.After(time.Millisecond):
		}
	}
}

// signal sends sig to the child; false if there is no Transport for it yet
// (a Stream's, before Start returned).
func (h *propHarness) signal(sig syscall.Signal) bool {
	c := h.ctl()
	if c == nil {
		return false
	}
	h.mu.Lock()
	h.sent = append(h.sent, sig)
	h.mu.Unlock()
	err := c.Signal(sig)
	switch {
	case err == nil:
	case errors.Is(err, ErrProcessExited):
		h.mu.Lock()
		if i := slices.Index(h.sent, sig); i >= 0 {
			h.sent = slices.Delete(h.sent, i, i+1)
		}
		h.mu.Unlock()
	default:
		h.t.Errorf("Signal(%v) = %v", sig, err)
	}
	return true
}

// closeFD calls CloseChildFD(fd) twice; false if there is no Transport for
// it yet.
func (h *propHarness) closeFD(fd int) bool {
	c := h.ctl()
	if c == nil {
		return false
	}
	h.mu.Lock()
	h.parentClosed[fd] = true
	h.mu.Unlock()
	if err := c.CloseChildFD(fd); err != nil {
		h.t.Errorf("CloseChildFD(%d) = %v", fd, err)
	}
	if err := c.CloseChildFD(fd); err != nil {
		h.t.Errorf("second CloseChildFD(%d) = %v, want nil (idempotent)", fd, err)
	}
	return true
}

func (h *propHarness) pause() {
	h.pauseMu.Lock()
	defer h.pauseMu.Unlock()
	if h.paused {
		return
	}
	h.reading().PauseReading()
	h.paused = true
}

func (h *propHarness) resume() {
	h.pauseMu.Lock()
	defer h.pauseMu.Unlock()
	h.paused = false
	h.reading().ResumeReading()
}

func (h *propHarness) isPaused() bool {
	h.pauseMu.Lock()
	defer h.pauseMu.Unlock()
	return h.paused
}

func (h *propHarness) ConnectionMade(t Transport) {
	h.enter("ConnectionMade")
	defer h.leave()
	h.tr = t
	h.connectionMade()
}

func (h *propHarness) connectionMade() {
	if len(h.events) != 0 {
		h.t.Errorf("ConnectionMade after %v", h.events)
	}
	h.events = append(h.events, propEvent{kind: "made"})
	p := h.plan
	if p.fds[0] != Write && p.mode == modeFDs {
		if _, err := h.tr.Write([]byte("x")); !errors.Is(err, ErrBadFD) {
			h.t.Errorf("Write without a stdin pipe the parent writes = %v, want ErrBadFD", err)
		}
	}
	if p.feedCallbacks {
		h.feed(p.feedFD, 8<<10)
	}
	if p.producer == 1 {
		h.registerProducer()
	}
}

func (h *propHarness) ChildDataReceived(fd int, data []byte) {
	h.enter("ChildDataReceived")
	defer h.leave()
	h.onData(fd, data)
}

// onData records and checks the data of descriptor fd (ChildDataReceived,
// a Stream's DataReceived and OtherData), then acts as the plan says.
func (h *propHarness) onData(fd int, data []byte) {
	h.events = append(h.events, propEvent{kind: "data", fd: fd})
	p := h.plan
	if d, ok := p.fds[fd]; !ok || d != Read {
		h.t.Errorf("data for descriptor %d, which has no pipe the parent reads", fd)
		return
	}
	if h.isPaused() {
		h.t.Errorf("data for descriptor %d (%d bytes) while reading is paused", fd, len(data))
	}
	if h.lostSeen[fd] {
		h.t.Errorf("data for descriptor %d after its end", fd)
	}
	rs := p.opts.ReadBufferSize
	if rs == 0 {
		rs = DefaultReadBufferSize
	}
	if len(data) == 0 || len(data) > rs {
		h.t.Errorf("data for descriptor %d with %d bytes, want 1 to ReadBufferSize %d", fd, len(data), rs)
	}
	h.data[fd].Write(data)
	h.outBytes += len(data)

	r := rand.New(rand.NewPCG(p.seed, uint64(h.outBytes)))
	if p.feedCallbacks && r.IntN(2) == 0 {
		h.feed(p.feedFD, 1+propSize(r))
	}
	if p.signalAt >= 0 && !h.signalDone && h.outBytes >= p.signalAt {
		h.signalDone = h.signal(p.signal)
	}
	if p.loseAt >= 0 && !h.loseDone && h.outBytes >= p.loseAt {
		h.loseDone = true
		if p.mode == modeStream {
			// Dawdle first, now and then: the other descriptors' data
			// and ends read meanwhile wait for this callback, and must
			// not be delivered after Abort.
			time.Sleep(time.Duration(r.IntN(2)*r.IntN(3000)) * time.Microsecond)
			h.events = append(h.events, propEvent{kind: "abort"})
			h.abort()
		} else {
			h.loseConnection()
		}
	}
	if p.closeFD >= 0 && !h.closeFDDone && h.outBytes >= p.closeFDAt {
		h.closeFDDone = h.closeFD(p.closeFD)
	}
	if r.Float64() < p.pauseProb {
		h.pause()
		if r.IntN(2) == 0 {
			h.post(h.resume)
		} else {
			d := time.Duration(r.IntN(3000)) * time.Microsecond
			h.goFunc(func() {
				select {
				case <-time.After(d):
				case <-h.stop:
				}
				h.resume()
			})
		}
	}
}

// closeAllLocked records that the parent closed every descriptor of the
// plan, by the call named by (an input not closed before keeps that name).
// h.mu is held.
func (h *propHarness) closeAllLocked(by string) {
	for fd := range h.plan.fds {
		h.parentClosed[fd] = true
		if in := h.in[fd]; in != nil && in.closedBy == "" {
			in.closedBy = by
		}
	}
}

// loseConnection calls the ProcessProtocol Transport's LoseConnection.
func (h *propHarness) loseConnection() {
	h.mu.Lock()
	h.closeAllLocked("LoseConnection")
	h.mu.Unlock()
	h.tr.LoseConnection()
	for _, fd := range h.plan.fdList(Write) {
		if err := h.write(fd, []byte("x")); !errors.Is(err, ErrClosed) {
			h.t.Errorf("Write to descriptor %d after LoseConnection = %v, want ErrClosed", fd, err)
		}
	}
}

// abort calls the Stream weft.Transport's Abort (from a callback or a
// goroutine).
func (h *propHarness) abort() {
	h.mu.Lock()
	h.closeAllLocked("Abort")
	h.sent = append(h.sent, syscall.SIGKILL)
	h.mu.Unlock()
	h.abortCalled.Store(true)
	h.st.Abort()
	_, err := h.st.Write([]byte("x"))
	if !errors.Is(err, ErrClosed) || !errors.Is(err, weft.ErrClosed) {
		h.t.Errorf("Stream Write after Abort = %v, want an error matching ErrClosed and weft.ErrClosed", err)
	}
}

func (h *propHarness) ChildConnectionLost(fd int) {
	h.enter("ChildConnectionLost")
	defer h.leave()
	if !h.onLost(fd) {
		return
	}
	if h.plan.fds[fd] == Write {
		if err := h.write(fd, nil); !errors.Is(err, ErrClosed) {
			h.t.Errorf("Write to descriptor %d after its ChildConnectionLost = %v, want ErrClosed", fd, err)
		}
		if err := h.tr.CloseChildFD(fd); err != nil {
			h.t.Errorf("CloseChildFD(%d) after its ChildConnectionLost = %v, want nil (idempotent)", fd, err)
		}
		h.poke()
	} else if err := h.tr.WriteToChild(fd, []byte("x")); !errors.Is(err, ErrBadFD) {
		h.t.Errorf("WriteToChild(%d) = %v, want ErrBadFD", fd, err)
	}
}

// onLost records and checks the end of descriptor fd (ChildConnectionLost,
// a Stream's ReadConnectionLost); false if fd has no pipe.
func (h *propHarness) onLost(fd int) bool {
	h.events = append(h.events, propEvent{kind: "lost", fd: fd})
	d, ok := h.plan.fds[fd]
	if !ok {
		h.t.Errorf("end of descriptor %d, which has no pipe", fd)
		return false
	}
	h.lostSeen[fd] = true
	h.mu.Lock()
	parentClosed := h.parentClosed[fd]
	h.mu.Unlock()
	if d == Read && h.isPaused() && !parentClosed {
		h.t.Errorf("end of descriptor %d while reading is paused, and the parent did not close it", fd)
	}
	return true
}

func (h *propHarness) ProcessExited(status error) {
	h.enter("ProcessExited")
	defer h.leave()
	h.events = append(h.events, propEvent{kind: "exited"})
	h.exited = status
	for _, fd := range h.plan.fdList(Write) {
		if err := h.write(fd, []byte("x")); !errors.Is(err, ErrClosed) {
			h.t.Errorf("Write to descriptor %d in ProcessExited = %v, want ErrClosed", fd, err)
		}
	}
	if err := h.tr.Kill(); !errors.Is(err, ErrProcessExited) {
		h.t.Errorf("Kill in ProcessExited = %v, want ErrProcessExited", err)
	}
}

func (h *propHarness) ProcessEnded(status error) {
	h.enter("ProcessEnded")
	defer h.leave()
	h.events = append(h.events, propEvent{kind: "ended"})
	h.ended = status
	h.tr.Post(func() { h.postAfter.Store(true) })
	h.poke()
}

// propStreamProto is the weft.Protocol a Stream runs in modeStream.
type propStreamProto struct{ h *propHarness }

func (s *propStreamProto) ConnectionMade(t weft.Transport) {
	h := s.h
	h.enter("ConnectionMade")
	defer h.leave()
	h.st = t
	h.connectionMade()
}

func (s *propStreamProto) DataReceived(data []byte) {
	h := s.h
	h.enter("DataReceived")
	defer h.leave()
	h.onData(h.plan.readFD(), data)
}

func (s *propStreamProto) ConnectionLost(reason error) {
	h := s.h
	h.enter("ConnectionLost")
	defer h.leave()
	h.events = append(h.events, propEvent{kind: "ended"})
	h.ended = reason
	h.abortSeen = h.abortCalled.Load()
	if !propClosed(h.st.Context().Done()) {
		h.t.Errorf("ConnectionLost(%v): the Transport's Context is not done", reason)
	}
	h.post(func() { h.postAfter.Store(true) })
	h.poke()
}

// propHalfProto is a propStreamProto that is a weft.HalfCloseable.
type propHalfProto struct{ propStreamProto }

func (s *propHalfProto) ReadConnectionLost() {
	h := s.h
	h.enter("ReadConnectionLost")
	defer h.leave()
	h.onLost(h.plan.readFD())
	if h.plan.closeOnReadEnd {
		h.mu.Lock()
		if in := h.in[h.plan.feedFD]; in != nil && in.closedBy == "" {
			in.done = true
			h.closeInputLocked(h.plan.feedFD, "ReadConnectionLost")
		}
		h.mu.Unlock()
	}
}

var _ weft.HalfCloseable = (*propHalfProto)(nil)

// otherData is the Stream's OtherData.
func (h *propHarness) otherData(fd int, data []byte) {
	h.enter("OtherData")
	defer h.leave()
	if fd == h.plan.readFD() {
		h.t.Errorf("OtherData(%d): that is ReadFD, whose data goes to DataReceived", fd)
	}
	h.onData(fd, data)
}

// propProducer feeds the main descriptor when resumed; its calls must be
// serialized with the callbacks and follow the documented protocol.
type propProducer struct{ h *propHarness }

func (p *propProducer) PauseProducing() {
	h := p.h
	h.enter("PauseProducing")
	defer h.leave()
	switch h.prodState {
	case "paused":
		h.t.Errorf("PauseProducing while paused")
	case "stopped":
		h.t.Errorf("PauseProducing after StopProducing")
	}
	h.prodState = "paused"
	h.mu.Lock()
	h.prodPaused = true
	h.mu.Unlock()
}

func (p *propProducer) ResumeProducing() {
	h := p.h
	h.enter("ResumeProducing")
	defer h.leave()
	switch h.prodState {
	case "", "running":
		h.t.Errorf("ResumeProducing while not paused (%q)", h.prodState)
	case "stopped":
		h.t.Errorf("ResumeProducing after StopProducing")
	}
	h.prodState = "running"
	h.mu.Lock()
	h.prodPaused = false
	h.mu.Unlock()
	h.feed(h.plan.feedFD, 4<<10)
	h.poke()
}

func (p *propProducer) StopProducing() {
	h := p.h
	h.enter("StopProducing")
	defer h.leave()
	if h.prodState == "stopped" {
		h.t.Errorf("StopProducing twice")
	}
	h.prodState = "stopped"
	h.prodStops++
	h.poke()
}

var _ weft.Producer = (*propProducer)(nil)

func (h *propHarness) eventSummary() string {
	var b strings.Builder
	last := ""
	for _, e := range h.events {
		s := e.kind
		if e.kind == "data" || e.kind == "lost" {
			s = fmt.Sprintf("%s%d", e.kind, e.fd)
		}
		if s == last && e.kind == "data" {
			continue
		}
		last = s
		b.WriteString(s + " ")
	}
	return b.String()
}

// checkOrder checks made first and ended last, each once, and no data for
// a descriptor after its end.
func (h *propHarness) checkOrder(sum string) map[string]int {
	t, ev := h.t, h.events
	if len(ev) < 2 || ev[0].kind != "made" || ev[len(ev)-1].kind != "ended" {
		t.Fatalf("events %s: want made first and ended last", sum)
	}
	count := map[string]int{}
	for i, e := range ev {
		k := e.kind
		if k == "lost" {
			k = fmt.Sprintf("lost%d", e.fd)
		}
		count[k]++
		if e.kind == "data" && slices.ContainsFunc(ev[:i], func(x propEvent) bool { return x.kind == "lost" && x.fd == e.fd }) {
			t.Errorf("events %s: data on %d after its end", sum, e.fd)
		}
		if e.kind == "ended" && i != len(ev)-1 {
			t.Errorf("events %s: the end of the process not last", sum)
		}
	}
	for _, k := range []string{"made", "ended"} {
		if count[k] != 1 {
			t.Errorf("events %s: %s %d times, want once", sum, k, count[k])
		}
	}
	return count
}

// inputs returns the bytes each descriptor the parent writes accepted.
func (h *propHarness) inputs() map[int][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[int][]byte{}
	for fd, in := range h.in {
		out[fd] = in.data[:in.accepted]
	}
	return out
}

// checkData checks that every descriptor the parent reads delivered exactly
// what the child wrote to it, or a prefix where a cut is allowed.
func (h *propHarness) checkData(killed, cut bool, sum string) {
	h.mu.Lock()
	parentClosed := h.parentClosed
	h.mu.Unlock()
	want := h.plan.expected(h.inputs())
	var desc []string
	for _, fd := range h.plan.fdList(Read) {
		desc = append(desc, fmt.Sprintf("%d: %d/%d", fd, h.data[fd].Len(), len(want[fd])))
	}
	h.t.Logf("data got/want by descriptor: %s", strings.Join(desc, ", "))
	for _, fd := range h.plan.fdList(Read) {
		got := h.data[fd].Bytes()
		mayCut := killed || cut || parentClosed[fd]
		if bytes.Equal(got, want[fd]) || mayCut && bytes.HasPrefix(want[fd], got) {
			continue
		}
		i := 0
		for i < len(got) && i < len(want[fd]) && got[i] == want[fd][i] {
			i++
		}
		h.t.Errorf("descriptor %d: got %d bytes, want %d (a prefix allowed: %v); first difference at %d; events %s",
			fd, len(got), len(want[fd]), mayCut, i, sum)
	}
}

// checkExit checks an exit code and signal against the plan and the
// parent's signals, and a cause matching context.Canceled against the
// context's cancellation. It reports whether the parent may have ended the
// child.
func (h *propHarness) checkExit(what string, status error, code int, sig syscall.Signal) (byParent bool) {
	t, p := h.t, h.plan
	h.mu.Lock()
	sent, cancelled := slices.Clone(h.sent), h.cancelled
	h.mu.Unlock()
	planned := code == p.exitCode && sig == 0 && p.exitSig == 0 || code == -1 && sig == p.exitSig && p.exitSig != 0
	byParent = code == -1 && (slices.Contains(sent, sig) || cancelled && sig == syscall.SIGKILL)
	if !planned && !byParent {
		t.Errorf("%s(%v): code %d signal %v; want the planned exit (code %d signal %v) or a signal the parent sent (%v, context cancelled %v)",
			what, status, code, sig, p.exitCode, p.exitSig, sent, cancelled)
	}
	if errors.Is(status, context.Canceled) {
		if !cancelled || sig != syscall.SIGKILL {
			t.Errorf("%s(%v): a cause matching context.Canceled, but the context (cancelled: %v) did not kill the child", what, status, cancelled)
		}
	} else if cancelled && sig == syscall.SIGKILL && !slices.Contains(sent, syscall.SIGKILL) && p.exitSig != syscall.SIGKILL {
		t.Errorf("%s(%v): the context killed the child, want a Cause matching context.Canceled", what, status)
	}
	return byParent
}

func (h *propHarness) check(pr *Process, waitErr error) {
	t, p := h.t, h.plan
	sum := h.eventSummary()
	count := h.checkOrder(sum)
	if count["exited"] != 1 {
		t.Errorf("events %s: exited %d times, want once", sum, count["exited"])
	}
	for fd := range propMaxFD + 1 {
		_, piped := p.fds[fd]
		if n := count[fmt.Sprintf("lost%d", fd)]; piped && n != 1 || !piped && n != 0 {
			t.Errorf("events %s: ChildConnectionLost(%d) %d times, want %d", sum, fd, n, map[bool]int{true: 1}[piped])
		}
	}

	// Status.
	if h.exited == nil || (!errors.Is(h.exited, ErrProcessDone) && !errors.Is(h.exited, ErrProcessTerminated)) {
		t.Fatalf("ProcessExited(%v): want ErrProcessDone or a *ProcessTerminated", h.exited)
	}
	code, sig := ExitStatus(h.exited)
	byParent := h.checkExit("ProcessExited", h.exited, code, sig)
	if errors.Is(h.exited, ErrProcessDone) != (code == 0 && sig == 0) {
		t.Errorf("ProcessExited(%v): ErrProcessDone must mean exit code 0", h.exited)
	}
	var pt *ProcessTerminated
	if errors.As(h.exited, &pt) && pt.Cause != nil && !errors.Is(pt.Cause, context.Canceled) {
		t.Errorf("ProcessExited(%v): Cause %v, want none or the context's", h.exited, pt.Cause)
	}
	cut := false
	if h.ended != h.exited {
		cut = cutStatus(h.exited, h.ended)
		if !cut {
			t.Errorf("ProcessEnded(%v) differs from ProcessExited(%v) and is no WaitDelay cut", h.ended, h.exited)
		} else if !p.grand {
			t.Errorf("ProcessEnded(%v): a cut reported with no grandchild holding a pipe", h.ended)
		} else if p.opts.WaitDelay == 0 {
			t.Errorf("ProcessEnded(%v): a cut reported without Options.WaitDelay", h.ended)
		}
	}
	if errors.Is(h.ended, ErrProcessDone) {
		if waitErr != nil {
			t.Errorf("Wait = %v, want nil for ProcessEnded(%v)", waitErr, h.ended)
		}
	} else if waitErr != h.ended {
		t.Errorf("Wait = %v, want ProcessEnded's %v", waitErr, h.ended)
	}
	h.logOutcome(sum)

	// Data: exactly what the child wrote, or a prefix where a cut is
	// allowed (the parent's signal may be the planned one, and come first).
	h.checkData(byParent, cut, sum)
	h.checkAfter(pr)
	for _, fd := range p.fdList(Write) {
		if err := h.write(fd, []byte("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("Write to descriptor %d after Wait = %v, want ErrClosed", fd, err)
		}
	}
}

// checkStream is check for modeStream, which sees the process through the
// Stream's Protocol: ConnectionLost's reason stands for the status.
func (h *propHarness) checkStream(pr *Process, waitErr error) {
	t, p := h.t, h.plan
	sum := h.eventSummary()
	count := h.checkOrder(sum)
	rfd := p.readFD()
	lost := count[fmt.Sprintf("lost%d", rfd)]
	// Abort called from a goroutine may come too late to change anything.
	// If it had returned before the callback that calls ConnectionLost
	// (the abort event, from the callback that called it or posted once it
	// returned, comes before), ConnectionLost matches weft.ErrAborted; if
	// it was not called when ConnectionLost came, not.
	aborted := errors.Is(h.ended, weft.ErrAborted)
	abortAt := slices.IndexFunc(h.events, func(e propEvent) bool { return e.kind == "abort" })
	if aborted && !h.abortSeen || !aborted && abortAt >= 0 {
		t.Errorf("events %s: ConnectionLost(%v) matches weft.ErrAborted %v, but Abort called %v when it came", sum, h.ended, aborted, h.abortSeen)
	}
	switch {
	case !p.halfClose && lost != 0:
		t.Errorf("events %s: ReadConnectionLost %d times on a Protocol without it", sum, lost)
	case p.halfClose && !aborted && lost != 1:
		t.Errorf("events %s: ReadConnectionLost %d times, want once (ReadFD %d ended)", sum, lost, rfd)
	case aborted && lost > 1:
		t.Errorf("events %s: ReadConnectionLost %d times, want at most once", sum, lost)
	case abortAt >= 0 && slices.ContainsFunc(h.events[abortAt:], func(e propEvent) bool { return e.kind == "lost" || e.kind == "data" }):
		t.Errorf("events %s: ReadConnectionLost or data after Abort", sum)
	}
	for k, n := range count {
		if strings.HasPrefix(k, "lost") && k != fmt.Sprintf("lost%d", rfd) {
			t.Errorf("events %s: %s %d times: only ReadFD %d has an end the Protocol hears of", sum, k, n, rfd)
		}
	}

	// Status, from ConnectionLost's reason.
	reason := h.ended
	terminated := errors.Is(reason, ErrProcessTerminated)
	code, sig := 0, syscall.Signal(0)
	if terminated {
		code, sig = ExitStatus(reason)
	}
	cut := errors.Is(reason, exec.ErrWaitDelay)
	if errors.Is(reason, errPropReason) != h.reasonGiven {
		t.Errorf("ConnectionLost(%v): matches the LoseConnectionWithReason reason %v, given %v", reason, !h.reasonGiven, h.reasonGiven)
	}
	switch {
	case !terminated && !aborted && !h.reasonGiven && reason != nil:
		t.Errorf("ConnectionLost(%v): want nil for a child that exited with status 0", reason)
	case !terminated && aborted && !errors.Is(reason, ErrProcessDone):
		t.Errorf("ConnectionLost(%v) after Abort: want ErrProcessTerminated, or ErrProcessDone for a child that had exited with status 0", reason)
	case terminated && code == 0 && sig == 0 && !cut:
		t.Errorf("ConnectionLost(%v): a *ProcessTerminated with exit code 0 and nothing cut", reason)
	}
	byParent := h.checkExit("ConnectionLost", reason, code, sig)
	if cut {
		if !p.grand {
			t.Errorf("ConnectionLost(%v): a cut reported with no grandchild holding a pipe", reason)
		} else if p.opts.WaitDelay == 0 {
			t.Errorf("ConnectionLost(%v): a cut reported without Options.WaitDelay", reason)
		}
	}
	if !terminated {
		if waitErr != nil {
			t.Errorf("Wait = %v, want nil for ConnectionLost(%v)", waitErr, reason)
		}
	} else if c, s := ExitStatus(waitErr); !errors.Is(waitErr, ErrProcessTerminated) || c != code || s != sig || errors.Is(waitErr, exec.ErrWaitDelay) != cut {
		t.Errorf("Wait = %v, want the status in ConnectionLost(%v)", waitErr, reason)
	}
	h.logOutcome(sum)
	h.checkData(byParent, cut, sum)
	h.checkAfter(pr)
	if _, err := h.st.Write([]byte("x")); !errors.Is(err, ErrClosed) || !errors.Is(err, weft.ErrClosed) {
		t.Errorf("Stream Write after Wait = %v, want an error matching ErrClosed and weft.ErrClosed", err)
	}
	if !propClosed(h.st.Context().Done()) {
		t.Errorf("the Stream Transport's Context not done after Wait")
	}
}

func (h *propHarness) logOutcome(sum string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var in []string
	for _, fd := range slices.Sorted(maps.Keys(h.in)) {
		i := h.in[fd]
		in = append(in, fmt.Sprintf("%d: %d/%d closed by %q", fd, i.accepted, i.target, i.closedBy))
	}
	h.t.Logf("outcome: exited %v, ended %v, accepted {%s}, signals sent %v, cancelled %v, parent closed %v, events %s",
		h.exited, h.ended, strings.Join(in, "; "), h.sent, h.cancelled, h.parentClosed, sum)
}

// checkAfter checks what holds once Wait has returned.
func (h *propHarness) checkAfter(pr *Process) {
	t, p := h.t, h.plan
	if p.producer != 0 && h.prodStops != 1 {
		t.Errorf("StopProducing called %d times, want once (its descriptor closed)", h.prodStops)
	}
	if h.postAfter.Load() {
		t.Errorf("work posted from the end callback ran")
	}
	select {
	case <-pr.Context().Done():
	default:
		t.Errorf("Context not done after Wait")
	}
	if err := pr.Kill(); !errors.Is(err, ErrProcessExited) {
		t.Errorf("Kill after Wait = %v, want ErrProcessExited", err)
	}
}

func propClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// propFDs lists this process's open descriptors (Linux).
func propFDs(t *testing.T) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("listing descriptors: %v", err)
	}
	fds := map[string]string{}
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			fds[e.Name()] = l
		}
	}
	return fds
}
