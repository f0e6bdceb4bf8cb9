package process_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/process"
)

// echo writes a verse to cat and prints what comes back, and how it ended.
type echo struct {
	process.Base
	out bytes.Buffer
}

func (e *echo) ConnectionMade(t process.Transport) {
	t.Write([]byte("One, two! One, two! And through and through\n"))
	t.CloseStdin() // cat exits at end of input
}

func (e *echo) ChildDataReceived(fd int, data []byte) {
	if fd == 1 {
		e.out.Write(data)
	}
}

func (e *echo) ProcessExited(status error) { fmt.Println("exited:", status) }

func (e *echo) ProcessEnded(status error) {
	fmt.Print("stdout: ", e.out.String())
	fmt.Println("ended:", status)
}

func ExampleStart() {
	p, err := process.Start(context.Background(), exec.Command("cat"), &echo{}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Wait:", p.Wait())
	// Output:
	// exited: process: exited with status 0
	// stdout: One, two! One, two! And through and through
	// ended: process: exited with status 0
	// Wait: <nil>
}

// lines is a weft.Protocol — here a small line splitter; a codec's framed
// protocol plugs in the same way.
type lines struct {
	buf []byte
}

func (l *lines) ConnectionMade(weft.Transport) {}

func (l *lines) DataReceived(data []byte) {
	l.buf = append(l.buf, data...)
	for {
		adv, line, _ := bufio.ScanLines(l.buf, false)
		if adv == 0 {
			return
		}
		fmt.Printf("line %q\n", line)
		l.buf = l.buf[adv:]
	}
}

func (l *lines) ConnectionLost(reason error) { fmt.Println("lost:", reason) }

func ExampleStream() {
	cmd := exec.Command("sh", "-c", "echo vorpal; echo blade; exit 3")
	p, err := process.Start(context.Background(), cmd, process.NewStream(&lines{}), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	code, _ := process.ExitStatus(p.Wait())
	fmt.Println("exit code:", code)
	// Output:
	// line "vorpal"
	// line "blade"
	// lost: process: exited with status 3
	// exit code: 3
}
