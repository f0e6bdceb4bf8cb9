package poetry

import (
	"bytes"
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
	b, over, err := readUpTo(f, MaxPoemFile)
	if err != nil {
		return nil, fmt.Errorf("poetry: reading %s: %w", path, err)
	}
	if over {
		return nil, tooLarge()
	}
	return b, nil
}

// readUpTo reads r to its end, or until it has given more than limit bytes
// (over: the bytes are then dropped). It reads into chunks of up to 1 MiB,
// joined once at the end, rather than one slice grown and copied as it
// fills (io.ReadAll): reading /dev/zero to the limit took 3.4 s that way
// under the race detector, 0.13 s in chunks.
func readUpTo(r io.Reader, limit int) (b []byte, over bool, err error) {
	var chunks [][]byte
	total, size := 0, 64<<10
	for {
		c := make([]byte, min(size, limit+1-total))
		n, err := io.ReadFull(r, c)
		total += n
		if total > limit {
			return nil, true, nil
		}
		chunks = append(chunks, c[:n])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, false, err
		}
		size = min(2*size, 1<<20)
	}
	if len(chunks) == 1 {
		return chunks[0], false, nil
	}
	return bytes.Join(chunks, nil), false, nil
}
