// Command wc is Twisted's classic process example in weft: it writes verses
// to the wc program's stdin through a process.ProcessProtocol, closes stdin,
// then parses the counts wc prints (lines, words, bytes).
//
// Usage:
//
//	wc [-wc PATH] [FILE...]
//
// With no FILE it counts a built-in verse. The pieces: Count (run wc over
// some text), Counts, and counter, the ProcessProtocol.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/process"
)

// Verse is the text counted when no file is given.
const Verse = `'Twas brillig, and the slithy toves
Did gyre and gimble in the wabe:
All mimsy were the borogoves,
And the mome raths outgrabe.
`

// ErrBadOutput: wc printed something that is not three counts.
var ErrBadOutput = errors.New("wc: unexpected output from wc")

// maxOut bounds the output of wc kept: its counts line is far shorter, so a
// program printing more is not wc (and is killed); maxErr bounds its
// messages kept for the error report.
const maxOut, maxErr = 4 << 10, 64 << 10

// Counts is what wc reports.
type Counts struct {
	// Lines, Words and Bytes are wc's three counts, in the order it
	// prints them.
	Lines, Words, Bytes int
}

// counter is the ProcessProtocol: it feeds the text to stdin, closes it,
// and collects stdout and stderr.
type counter struct {
	process.Base
	text        []byte
	t           process.Transport
	out, errOut bytes.Buffer
	tooMuch     bool          // stdout passed maxOut: the child was killed
	writeErr    error         // set by the feeding goroutine before fed closes
	fed         chan struct{} // closed when the feeding goroutine is done
}

// ConnectionMade starts a goroutine that writes the text in pieces, each
// when wc has taken enough of the ones before (weft.Gate.WriteAll), so the
// text's size is not bounded by the stdin write buffer.
func (c *counter) ConnectionMade(t process.Transport) {
	c.t = t
	gate := weft.NewGate(t)
	go func() {
		defer close(c.fed)
		// Stdin is closed also after a failed write, so that wc ends (Count
		// then reports the write's error).
		c.writeErr = errors.Join(gate.WriteAll(t.Context(), c.text), t.CloseStdin())
	}()
}

func (c *counter) ChildDataReceived(fd int, data []byte) {
	switch fd {
	case 1:
		if c.out.Len()+len(data) > maxOut {
			if !c.tooMuch {
				c.tooMuch = true
				_ = c.t.Kill()
			}
			return
		}
		c.out.Write(data)
	case 2:
		c.errOut.Write(data[:min(len(data), maxErr-c.errOut.Len())])
	}
}

// Count runs the program wcPath (wc when empty) over text, of any size, and
// returns its counts. A program that prints more than wc would (4 KiB) is
// killed, and Count returns ErrBadOutput.
func Count(ctx context.Context, wcPath string, text []byte) (Counts, error) {
	if wcPath == "" {
		wcPath = "wc"
	}
	c := &counter{text: text, fed: make(chan struct{})}
	p, err := process.Start(ctx, exec.Command(wcPath), c, nil)
	if err != nil {
		return Counts{}, err
	}
	err = p.Wait()
	<-c.fed // ends at the latest when the process has ended (ErrClosed)
	if c.tooMuch {
		return Counts{}, fmt.Errorf("%w: more than %d bytes from %s", ErrBadOutput, maxOut, wcPath)
	}
	if err != nil {
		return Counts{}, fmt.Errorf("wc: %s failed: %w (stderr %q)", wcPath, err, c.errOut.String())
	}
	if c.writeErr != nil {
		return Counts{}, fmt.Errorf("wc: writing to %s: %w", wcPath, c.writeErr)
	}
	return parse(c.out.String())
}

// parse reads wc's "lines words bytes" line.
func parse(out string) (Counts, error) {
	f := strings.Fields(out)
	if len(f) != 3 {
		return Counts{}, fmt.Errorf("%w: %q", ErrBadOutput, out)
	}
	var n [3]int
	for i, s := range f {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return Counts{}, fmt.Errorf("%w: %q", ErrBadOutput, out)
		}
		n[i] = v
	}
	return Counts{Lines: n[0], Words: n[1], Bytes: n[2]}, nil
}

// run is main without the exit: it returns the exit code. An interrupt or
// SIGTERM while wc runs kills it (caught only then: reading the files, the
// signals keep their default effect).
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wcPath := fs.String("wc", "wc", "path of the wc program")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	text := []byte(Verse)
	if fs.NArg() > 0 {
		text = nil
		for _, name := range fs.Args() {
			b, err := os.ReadFile(name)
			if err != nil {
				fmt.Fprintln(stderr, err)
				return 1
			}
			text = append(text, b...)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	c, err := Count(ctx, *wcPath, text)
	stop()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if _, err := fmt.Fprintf(stdout, "lines: %d\nwords: %d\nbytes: %d\n", c.Lines, c.Words, c.Bytes); err != nil {
		fmt.Fprintln(stderr, "wc: writing the counts:", err)
		return 1
	}
	return 0
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
