package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/weftkit/weft/endpoint"
	"github.com/weftkit/weft/protocols/poetry"
)

// get runs "weft get poetry ENDPOINT...": progress on stderr, each poem on
// stdout, exit status 1 if any download failed.
func get(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("get poetry", stderr)
	maxPoem := fs.Int("max-poem", 0, "largest poem accepted, in bytes (0: 16 MiB)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: weft get poetry ENDPOINT... (e.g. tcp:127.0.0.1:10000)")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 || pos[0] != "poetry" {
		return fmt.Errorf("%w: get takes the protocol \"poetry\" followed by endpoints", errUsage)
	}
	eps := pos[1:]
	if len(eps) == 0 {
		return fmt.Errorf("%w: get poetry needs at least one ENDPOINT", errUsage)
	}
	for _, d := range eps {
		if _, err := endpoint.ParseClient(d); err != nil {
			return fmt.Errorf("%w: endpoint %q: %v", errUsage, d, err)
		}
	}
	if *maxPoem < 0 {
		return fmt.Errorf("%w: --max-poem %d is negative", errUsage, *maxPoem)
	}
	var mu sync.Mutex
	c := poetry.Client{MaxPoem: *maxPoem, Progress: func(i, n, total int) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stderr, "poem %d from %s: %d bytes (%d so far)\n", i+1, eps[i], n, total)
	}}
	failed := 0
	for i, r := range c.Get(ctx, eps...) {
		if r.Err != nil {
			failed++
			fmt.Fprintf(stderr, "poem %d failed: %v\n", i+1, r.Err)
			continue
		}
		fmt.Fprintf(stderr, "poem %d from %s: done, %d bytes\n", i+1, r.Endpoint, len(r.Poem))
		if _, err := stdout.Write(r.Poem); err != nil {
			return err
		}
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "weft: %d of %d downloads failed\n", failed, len(eps))
		return exitError{1}
	}
	return nil
}
