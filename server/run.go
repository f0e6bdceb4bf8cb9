package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Run serves the listeners until ctx is done, then shuts the server down
// gracefully (Shutdown, closing what has not ended within drain; Close at
// once when drain is 0) and returns only once every connection has ended, so
// that a main function may return right after it. A listener that fails
// (Serve returning an error other than ErrServerClosed) shuts the server down
// the same way, and Run returns that error; after a shutdown asked for by ctx
// (or by a Shutdown or Close of the caller's) it returns nil.
func (s *Server) Run(ctx context.Context, drain time.Duration, ls ...net.Listener) error {
	if len(ls) == 0 || drain < 0 {
		for _, l := range ls {
			l.Close()
		}
		return fmt.Errorf("%w: Run needs a listener and a drain time ≥ 0 (got %d listeners, %v)", ErrInvalidConfig, len(ls), drain)
	}
	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errc <- s.Serve(l) }()
	}
	var failed error
	running := len(ls)
	select {
	case <-ctx.Done():
	case err := <-errc:
		running--
		if !errors.Is(err, ErrServerClosed) {
			failed = err
		}
	}
	if drain == 0 {
		s.Close()
	} else {
		sctx, cancel := context.WithTimeout(context.Background(), drain)
		_ = s.Shutdown(sctx) // its deadline closes the rest
		cancel()
	}
	for ; running > 0; running-- {
		if err := <-errc; failed == nil && !errors.Is(err, ErrServerClosed) {
			failed = err
		}
	}
	return failed
}
