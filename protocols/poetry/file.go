package poetry

import (
	"fmt"
	"io"
	"os"
)

// MaxPoemFile is the largest poem file ReadFile takes: a server holds its
// poem in memory, and a file that never ends (/dev/zero, a pipe) must not
// take all of it.
const MaxPoemFile = 64 << 20

// ReadFile reads a poem file for Server.Poem, refusing one of more than
// MaxPoemFile bytes with an error wrapping ErrPoemTooLarge (a regular file
// is refused by its size, before any byte is read; anything else, such as
// a pipe, once it has sent one byte more). Opening a FIFO waits for a
// writer.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tooLarge := func() error {
		return fmt.Errorf("%w: %s is larger than %d bytes", ErrPoemTooLarge, path, MaxPoemFile)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxPoemFile {
		return nil, tooLarge()
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxPoemFile+1))
	if err != nil {
		return nil, fmt.Errorf("poetry: reading %s: %w", path, err)
	}
	if len(b) > MaxPoemFile {
		return nil, tooLarge()
	}
	return b, nil
}
