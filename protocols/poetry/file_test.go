package poetry_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/weftkit/weft/protocols/poetry"
)

// TestReadFile: a poem file is read whole up to MaxPoemFile bytes; a larger
// regular file is refused by its size and an endless one (/dev/zero) once
// it passes the limit, both with ErrPoemTooLarge naming the file; a missing
// file is the open error.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	sparse := func(name string, size int64) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return p
	}
	poem := filepath.Join(dir, "poem.txt")
	if err := os.WriteFile(poem, []byte("a line\nanother\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		path    string
		size    int    // the poem's size when read
		wantErr error  // nil: no error
		want    []byte // the poem's start, when checked
	}{
		{"poem", poem, 15, nil, []byte("a line\n")},
		{"empty", sparse("empty", 0), 0, nil, nil},
		{"at the limit", sparse("max", poetry.MaxPoemFile), poetry.MaxPoemFile, nil, nil},
		{"one byte over", sparse("over", poetry.MaxPoemFile+1), 0, poetry.ErrPoemTooLarge, nil},
		{"endless", "/dev/zero", 0, poetry.ErrPoemTooLarge, nil},
		{"missing", filepath.Join(dir, "nope"), 0, fs.ErrNotExist, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.path); tc.path == "/dev/zero" && err != nil {
				t.Skip("no /dev/zero here")
			}
			b, err := poetry.ReadFile(tc.path)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !bytes.Contains([]byte(err.Error()), []byte(tc.path)) {
					t.Fatalf("ReadFile(%s) = %d bytes, %v; want %v naming the file", tc.path, len(b), err, tc.wantErr)
				}
				return
			}
			if err != nil || len(b) != tc.size || !bytes.HasPrefix(b, tc.want) {
				t.Fatalf("ReadFile(%s) = %d bytes, %v; want %d bytes", tc.path, len(b), err, tc.size)
			}
		})
	}
}

// TestReadUpToProperty: readUpTo returns exactly what the reader gave when
// that is at most limit bytes, and over (no bytes) when it is more, for
// sizes around its chunk boundaries and readers that give short reads; a
// read error is returned.
func TestReadUpToProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	src := rand.NewChaCha8([32]byte{7})
	sizes := []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 192 << 10, 192<<10 + 1, 3<<20 + 5}
	for range 40 {
		sizes = append(sizes, rng.IntN(4<<20))
	}
	for _, size := range sizes {
		data := make([]byte, size)
		src.Read(data)
		for _, limit := range []int{size - 1, size, size + 1, rng.IntN(4<<20) + 1} {
			if limit < 0 {
				continue
			}
			var r io.Reader = bytes.NewReader(data)
			if rng.IntN(2) == 0 {
				r = iotest.HalfReader(r)
			}
			b, over, err := poetry.ReadUpTo(r, limit)
			if err != nil {
				t.Fatalf("size %d, limit %d: %v", size, limit, err)
			}
			if over != (size > limit) || over && b != nil || !over && !bytes.Equal(b, data) {
				t.Fatalf("size %d, limit %d: %d bytes (equal %v), over %v", size, limit, len(b), bytes.Equal(b, data), over)
			}
		}
	}
	boom := errors.New("boom")
	if _, _, err := poetry.ReadUpTo(io.MultiReader(bytes.NewReader(make([]byte, 100<<10)), iotest.ErrReader(boom)), 1<<20); !errors.Is(err, boom) {
		t.Fatalf("a read error: %v, want boom", err)
	}
}
