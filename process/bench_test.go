package process

import (
	"context"
	"os/exec"
	"testing"
)

type counting struct {
	Base
	n int
}

func (c *counting) ChildDataReceived(fd int, data []byte) { c.n += len(data) }

// BenchmarkStdout measures reading a child's stdout: head -c 16 MiB of
// /dev/zero per iteration (process start included).
func BenchmarkStdout(b *testing.B) {
	head := lookPath(b, "head")
	const size = 16 << 20
	b.SetBytes(size)
	for b.Loop() {
		c := &counting{}
		p, err := Start(context.Background(), exec.Command(head, "-c", "16777216", "/dev/zero"), c, &Options{ChildFDs: map[int]Direction{1: Read}})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Wait(); err != nil || c.n != size {
			b.Fatalf("Wait = %v after %d bytes", err, c.n)
		}
	}
}

// BenchmarkCatRoundTrip measures writing 4 MiB to cat's stdin and reading it
// back, per iteration.
func BenchmarkCatRoundTrip(b *testing.B) {
	cat := lookPath(b, "cat")
	const size = 4 << 20
	chunk := make([]byte, 64<<10)
	b.SetBytes(size)
	for b.Loop() {
		c := &counting{}
		p, err := Start(context.Background(), exec.Command(cat), c, &Options{MaxWriteBuffer: size})
		if err != nil {
			b.Fatal(err)
		}
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := p.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		_ = p.CloseStdin()
		if err := p.Wait(); err != nil || c.n != size {
			b.Fatalf("Wait = %v after %d bytes", err, c.n)
		}
	}
}
