package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
	"github.com/weftkit/weft/endpoint"
)

// Reconnection backoff of "weft connect --reconnect": exponential from
// backoffMin, capped at backoffMax, each wait drawn from [d/2, d] (equal
// jitter), reset after a connection succeeds.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 10 * time.Second
)

// connectDial opens the connection of one session of "weft connect"; tests
// replace it to run a session over net.Pipe.
var connectDial = func(ctx context.Context, ep *endpoint.Client) (net.Conn, error) { return ep.Dial(ctx) }

type connectFlags struct {
	codec     string
	maxFrame  int
	reconnect bool
	wait      time.Duration
	halfClose bool
}

// connect runs "weft connect ENDPOINT": each stdin line is sent as a frame,
// each frame received is printed on its own line; with --codec raw, stdin's
// bytes are sent and the bytes received printed as they are (as nc does). Stdin is read only as fast
// as the server takes the frames (a weft.Gate), so a slow server slows the
// sender down instead of overflowing its write buffer. A line taken from
// stdin is kept until its bytes are written into the socket: with
// --reconnect, the lines a lost connection had not written are sent first on
// the next one (a line written into a socket that then drops may be lost:
// nothing tells whether the server read it). A line the codec refuses ends
// the run with an error, after the replies to the lines before it (the
// connection stays open until nothing arrived for --wait). A frame the
// server left incomplete — it closed inside it, or sent nothing more for
// --wait — ends the run with codec.ErrTruncated. With --half-close, the
// end of what is sent (stdin's end, or a line that cannot be sent)
// half-closes the connection (weft.LoseWriteConnection, as nc -N does)
// instead of waiting --wait: the run ends when the server closes; a
// connection that cannot half-close falls back to --wait's default. A
// SIGINT or SIGTERM (ctx done) closes the connection at once, without
// waiting for output the server does not take or a stdout nobody reads,
// and ends the run with interruptStatus's status (130 or 143).
func connect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("connect ENDPOINT", stderr)
	var f connectFlags
	fs.StringVar(&f.codec, "codec", "line", "framing: "+codecNames+" (raw: stdin sent and output printed as they are, as nc does)")
	fs.IntVar(&f.maxFrame, "max-frame", 0, "largest frame in bytes (0: the codec's default)")
	fs.BoolVar(&f.reconnect, "reconnect", false, "reconnect with backoff when the connection fails or is lost")
	fs.DurationVar(&f.wait, "wait", time.Second, "after the end of stdin (or a line that cannot be sent), close once nothing was received for this long (not with --half-close)")
	fs.BoolVar(&f.halfClose, "half-close", false, "at the end of stdin (or a line that cannot be sent), half-close the connection instead and end when the server closes it, as nc -N does (one that cannot half-close closes after --wait's default; --wait with it is a usage error)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: weft connect ENDPOINT [flags] (e.g. tcp:127.0.0.1:8007; stdin lines are sent, frames received printed)")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, connectStatuses)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: connect takes one ENDPOINT (e.g. tcp:127.0.0.1:8007), got %q", errUsage, pos)
	}
	ep, err := endpoint.ParseClient(pos[0])
	if err != nil {
		return fmt.Errorf("%w: endpoint %q: %v", errUsage, pos[0], err)
	}
	c, err := parseCodec(f.codec, f.maxFrame)
	if err != nil {
		return err
	}
	if f.wait <= 0 {
		return fmt.Errorf("%w: --wait %v must be positive", errUsage, f.wait)
	}
	if f.halfClose {
		waitGiven := false
		fs.Visit(func(fl *flag.Flag) { waitGiven = waitGiven || fl.Name == "wait" })
		if waitGiven {
			return fmt.Errorf("%w: --wait has no effect with --half-close (the run ends when the server closes the connection)", errUsage)
		}
	}
	_, raw := c.(codec.Raw)
	lines := make(chan []byte)
	var stdinDone atomic.Bool
	var stdinErr error // set before lines is closed
	// The stdin reader ends with stdin (or the process).
	go func() {
		stdinErr = readStdin(ctx, stdin, raw, max(maxStdinLine, f.maxFrame+2), lines)
		stdinDone.Store(true)
		close(lines)
	}()
	out := &printer{w: bufio.NewWriter(interruptibleWriter{ctx, stdout}), raw: raw}
	var carry [][]byte // lines taken from stdin that no socket got, oldest first
	for attempt := 1; ; attempt++ {
		nc, err := connectDial(ctx, ep)
		if ctx.Err() != nil {
			if err == nil {
				nc.Close()
			}
			return exitError{interruptStatus(ctx)} // interrupted (SIGINT, SIGTERM): 130, 143
		}
		if err == nil {
			attempt = 0
			// The bytes written to this session's socket (counted by the
			// runtime when a write returns), to tell which of its lines
			// reached it. Each session has its own count: a write of a
			// lost connection may return after the next session began.
			cnt := new(weft.Counters)
			p := &session{out: out, lines: lines, stdinErr: &stdinErr, wait: f.wait, halfClose: f.halfClose,
				got: make(chan struct{}, 1), codec: c, pending: carry, cnt: cnt}
			conn := weft.NewConn(nc, keepRaw{codec.NewProtocol(c, p), p}, &weft.Options{Client: true, Counters: cnt})
			// An interrupt closes at once: output still queued for a
			// server that does not read must not hold the process.
			stop := context.AfterFunc(ctx, func() { conn.Close(ctx.Err()) })
			err = conn.Serve()
			stop()
			carry = p.unsent()
			if ctx.Err() != nil {
				return exitError{interruptStatus(ctx)} // before sendError: a stdout write it cut short is no failure
			}
			if serr := p.sendError(); serr != nil {
				return serr // a line the codec refuses, or stdout failing: not retried, not skipped
			}
			if err == nil {
				err = p.truncated() // the stream ended inside a frame, or --wait elapsed inside one
			}
			if errors.Is(err, codec.ErrFrameTooLarge) {
				err = fmt.Errorf("%w (--max-frame raises the limit)", err) // a frame the server sent
			}
			// After stdin's end a lost connection ends the run, unless
			// lines taken from stdin are still to be sent.
			if !f.reconnect || stdinDone.Load() && len(carry) == 0 {
				return err
			}
			fmt.Fprintf(stderr, "weft: connection to %s lost (%v); reconnecting\n", ep.Desc, orClean(err))
		} else if !f.reconnect {
			return err
		}
		d := backoff(max(attempt, 1))
		if err != nil && attempt > 0 {
			fmt.Fprintf(stderr, "weft: attempt %d: %v; retrying in %v\n", attempt, err, d.Round(time.Millisecond))
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return exitError{interruptStatus(ctx)}
		}
	}
}

// connectStatuses ends "weft connect -h".
const connectStatuses = `exit status: 0 the connection ended cleanly (stdin ended and nothing more
came for --wait, or the server closed it: with --half-close, after the
half-close); 1 a connection refused or lost (without --reconnect), a frame
the server left incomplete, a stdin line the codec refuses, stdin or stdout
failing; 2 a usage error;
130 (SIGINT) or 143 (SIGTERM) interrupted: what was received is printed.`

func orClean(err error) any {
	if err == nil {
		return "closed by the server"
	}
	return err
}

// backoff returns the wait before the given attempt (1, 2, ...).
func backoff(attempt int) time.Duration {
	d := backoffMin << min(attempt-1, 20)
	if d > backoffMax || d <= 0 {
		d = backoffMax
	}
	return d/2 + rand.N(d/2+1)
}

// readStdin sends stdin to lines until it ends or ctx does: each line
// without its "\n" (or "\r\n"), at most maxLine bytes with it, or, raw, the
// bytes as they are (what each read returns, at most rawChunk bytes). It
// returns why stdin could not be read to its end, or nil.
func readStdin(ctx context.Context, stdin io.Reader, raw bool, maxLine int, lines chan<- []byte) error {
	send := func(b []byte) bool {
		select {
		case lines <- append([]byte(nil), b...):
			return true
		case <-ctx.Done():
			return false
		}
	}
	if raw {
		// What each read returns is sent at once, newline or not, as nc
		// does: a request without "\n" must not wait for more stdin.
		buf := make([]byte, rawChunk)
		for {
			n, err := stdin.Read(buf)
			if n > 0 && !send(buf[:n]) {
				return nil
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(nil, maxLine)
	for sc.Scan() {
		if !send(sc.Bytes()) {
			return nil
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return fmt.Errorf("a line of stdin is over %d bytes (--max-frame raises the limit)", maxLine)
	}
	return sc.Err()
}

// Stdin limits of "weft connect": a line (with its "\n") is at most
// maxStdinLine bytes, or --max-frame + 2 if that is more; with --codec raw
// at most rawChunk bytes are sent at once.
const (
	maxStdinLine = 16 << 20
	rawChunk     = 64 << 10
)

// printer writes frames, one per line, or raw bytes as they are, from any
// connection.
type printer struct {
	mu  sync.Mutex
	w   *bufio.Writer
	raw bool
}

// frame adds b to the output, which flush writes; it returns the write
// error of stdout (a bufio.Writer keeps it: every later call returns it
// too).
func (p *printer) frame(b []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.w.Write(b)
	if err == nil && !p.raw {
		err = p.w.WriteByte('\n')
	}
	return err
}

// flush writes what frame added, after each read from the connection: the
// frames of one read go out together (one write per read, not per frame).
func (p *printer) flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.w.Flush()
}

// keepRaw is the codec's protocol for a session: it hands the session the
// runtime's Transport before the codec's ConnectionMade, for the --wait idle
// close (see session.drain).
type keepRaw struct {
	weft.Protocol
	s *session
}

func (k keepRaw) ConnectionMade(t weft.Transport) {
	k.s.raw = t
	k.Protocol.ConnectionMade(t)
}

// DataReceived prints the frames the codec finds in data.
func (k keepRaw) DataReceived(data []byte) {
	k.Protocol.DataReceived(data)
	if err := k.s.out.flush(); err != nil {
		k.s.stdoutFailed(err)
	}
}

// session is one connection of "weft connect".
type session struct {
	out       *printer
	lines     <-chan []byte
	stdinErr  *error // why stdin ended early; read once lines is closed
	wait      time.Duration
	halfClose bool          // --half-close: end sends with the half-close, not drain
	got       chan struct{} // a frame arrived (for the --wait idle close)
	t         codec.FrameTransport
	raw       weft.Transport // the runtime's, under t (set before ConnectionMade)
	codec     codec.Codec
	idle      atomic.Bool // drain closed the connection: --wait elapsed

	// Lines taken from stdin are kept until they are known to have reached
	// the socket, so that a session that ends first hands them to the next
	// one (unsent). pending holds the lines a previous session did not
	// send, sent first; inflight the lines written to the transport whose
	// bytes may not all have reached the socket, with the count of bytes
	// written in this session at their end. The pump owns both while it
	// runs; unsent reads them after it ended.
	pending  [][]byte
	inflight []inflightLine
	queued   int64          // bytes written to the transport in this session
	cnt      *weft.Counters // this session's: BytesOut reached the socket
	pumping  sync.WaitGroup // the pump, once ConnectionMade started it

	mu      sync.Mutex
	sendErr error // why a stdin line could not be sent, or stdout written
	lostErr error // the stream ended inside a frame
}

// inflightLine is a line written to the transport; end counts the bytes
// written in the session up to its last.
type inflightLine struct {
	line []byte
	end  int64
}

// sendError returns why a stdin line could not be sent or stdout written,
// or nil.
func (s *session) sendError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendErr
}

func (s *session) ConnectionMade(t codec.FrameTransport) {
	s.t = t
	s.pumping.Add(1)
	go s.pump(t, weft.NewGate(t))
}

// written returns how many bytes of this session reached the socket.
func (s *session) written() int64 { return s.cnt.BytesOut.Load() }

// unsent waits for the pump to end and returns the lines it took (or was
// given) whose bytes did not all reach the socket, in order: the next
// session sends them first. A line whose bytes all went into the socket
// is not among them, though the peer may never have read it, unless the
// write that took them was still returning when the connection ended (its
// count comes too late: the line is sent twice rather than lost). Call it
// after the connection ended.
func (s *session) unsent() [][]byte {
	s.pumping.Wait()
	w := s.written()
	var out [][]byte
	for _, l := range s.inflight {
		if l.end > w {
			out = append(out, l.line)
		}
	}
	return append(out, s.pending...)
}

// pump sends stdin lines as frames until stdin ends or the connection is
// lost; after stdin ends it closes once nothing arrived for s.wait. The
// Gate holds it while the server does not keep up: stdin is read no faster
// than the server takes the frames, and nothing is dropped as a slow
// consumer.
func (s *session) pump(t codec.FrameTransport, gate *weft.Gate) {
	defer s.pumping.Done()
	ctx := t.Context()
	for {
		if gate.Wait(ctx) != nil {
			return
		}
		var line []byte
		if len(s.pending) > 0 {
			line, s.pending = s.pending[0], s.pending[1:]
		} else {
			select {
			case <-ctx.Done():
				return
			case l, ok := <-s.lines:
				if !ok {
					if err := *s.stdinErr; err != nil {
						s.stop(fmt.Errorf("reading stdin: %w", err))
					}
					s.end(t)
					return
				}
				line = l
			}
		}
		wire, err := s.codec.AppendFrame(nil, line)
		if err != nil {
			// The codec refuses the line (too long, or holding the
			// delimiter): say so, after the replies to the lines before it.
			hint := ""
			if errors.Is(err, codec.ErrFrameTooLarge) {
				hint = " (--max-frame raises the limit)"
			}
			s.stop(fmt.Errorf("a line of stdin cannot be sent: %w%s", err, hint))
			s.end(t)
			return
		}
		// Forget the lines whose bytes all reached the socket, then keep
		// this one until its bytes have too.
		w := s.written()
		i := 0
		for i < len(s.inflight) && s.inflight[i].end <= w {
			i++
		}
		s.inflight = s.inflight[i:]
		s.queued += int64(len(wire))
		s.inflight = append(s.inflight, inflightLine{line, s.queued})
		if _, err := t.Write(wire); err != nil {
			// Closed, or (despite the Gate) a slow consumer: the line
			// stays in inflight for the next session.
			t.Abort()
			return
		}
	}
}

// stop records why the session ends, for connect to return once the
// connection is closed.
func (s *session) stop(err error) {
	s.mu.Lock()
	if s.sendErr == nil {
		s.sendErr = err
	}
	s.mu.Unlock()
}

// end ends what the session sends (stdin ended, or a line cannot be sent):
// with --half-close it half-closes the connection once the lines written
// are sent, and the server's close ends the session; otherwise, or on a
// connection that cannot half-close (weft.ErrNotSupported), it drains.
func (s *session) end(t codec.FrameTransport) {
	if s.halfClose {
		if err := weft.LoseWriteConnection(t); !errors.Is(err, weft.ErrNotSupported) {
			return // nil, or weft.ErrClosed: the connection is ending anyway
		}
	}
	s.drain(t)
}

// drain waits for replies, and closes the connection once none came for
// s.wait.
//
// It closes through the runtime's Transport, not the codec's: the codec
// then reports the bytes of a frame it still holds as codec.ErrTruncated,
// as when the peer closes inside a frame (after the codec's own
// LoseConnection it would drop them without a word, as the handler's
// choice). A server whose last frame is cut must not look like a complete
// answer.
func (s *session) drain(t codec.FrameTransport) {
	timer := time.NewTimer(s.wait)
	defer timer.Stop()
	for {
		select {
		case <-t.Context().Done():
			return
		case <-s.got:
			timer.Reset(s.wait)
		case <-timer.C:
			s.idle.Store(true)
			s.raw.LoseConnection()
			return
		}
	}
}

func (s *session) FrameReceived(frame []byte) {
	if err := s.out.frame(frame); err != nil {
		s.stdoutFailed(err)
		return
	}
	select {
	case s.got <- struct{}{}:
	default:
	}
}

// stdoutFailed ends the session: what arrives can no longer be shown. It
// says so and stops, rather than go on receiving into the void.
func (s *session) stdoutFailed(err error) {
	s.mu.Lock()
	if s.sendErr == nil {
		s.sendErr = fmt.Errorf("writing stdout: %w", err)
	}
	s.mu.Unlock()
	s.t.Abort()
}

// ConnectionLost keeps the codec's report of a stream that ended inside a
// frame (codec.ErrTruncated), which the runtime counts as a clean end: the
// server closed inside a frame, or drain closed the connection after --wait
// while the server's last frame was incomplete.
func (s *session) ConnectionLost(reason error) {
	if errors.Is(reason, codec.ErrTruncated) {
		if s.idle.Load() {
			reason = fmt.Errorf("the server's last frame was incomplete when --wait %v elapsed with nothing more received: %w", s.wait, reason)
		}
		s.mu.Lock()
		s.lostErr = reason
		s.mu.Unlock()
	}
}

// truncated returns codec.ErrTruncated's report if the stream ended inside
// a frame, or nil; call it after the connection ended.
func (s *session) truncated() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lostErr
}
