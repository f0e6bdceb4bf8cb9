package irc

import (
	"fmt"
	"os"
	"sync"
)

// logFile is the file at LogBotConfig.LogPath: an io.Writer that Reopen
// opens again by its path, after logrotate has renamed it. Write, Reopen
// and Close are safe to call from any goroutine: each Write goes whole to
// one file, the old one or the new one.
type logFile struct {
	path string

	reopening sync.Mutex // held by Reopen and Close for their whole run

	mu      sync.Mutex // guards the fields below; held during each Write
	f       *os.File
	regular bool // f is a regular file: only such a file is reopened
	closed  bool
}

// openAppend opens path for appending, creating it 0600 (the log holds
// the private messages sent to the bot; a file that exists keeps its
// mode), and says whether it is a regular file.
func openAppend(path string) (f *os.File, regular bool, err error) {
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, err
	}
	return f, fi.Mode().IsRegular(), nil
}

func openLogFile(path string) (*logFile, error) {
	f, regular, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &logFile{path: path, f: f, regular: regular}, nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, os.ErrClosed
	}
	return l.f.Write(p)
}

// Reopen opens path again and writes to the new file from then on; the
// old one is closed once no Write uses it. A file that is not a regular
// one (a FIFO, /dev/stdout, a terminal) is kept: nothing renames it. If
// the open fails, the old file stays in use.
func (l *logFile) Reopen() error {
	l.reopening.Lock()
	defer l.reopening.Unlock()
	if l.closed {
		return fmt.Errorf("irc: log bot: reopen %s: %w", l.path, os.ErrClosed)
	}
	if !l.regular {
		return nil
	}
	// Opened without l.mu: the bot keeps logging to the old file meanwhile.
	f, regular, err := openAppend(l.path)
	if err != nil {
		return fmt.Errorf("irc: log bot: reopen: %w", err)
	}
	l.mu.Lock()
	old := l.f
	l.f, l.regular = f, regular
	l.mu.Unlock()
	if err := old.Close(); err != nil {
		return fmt.Errorf("irc: log bot: closing the log before reopen: %w", err)
	}
	return nil
}

// Close closes the file; Write and Reopen then fail with os.ErrClosed.
func (l *logFile) Close() error {
	l.reopening.Lock()
	defer l.reopening.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return l.f.Close()
}

// current returns the file in use.
func (l *logFile) current() *os.File {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f
}
