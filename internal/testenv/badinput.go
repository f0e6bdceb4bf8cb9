package testenv

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BadInputCase is one call of a bad-input table test (RunBadInput): Fn
// calls the API with a hostile or degenerate value and returns its error;
// Want is a prefix of the outcome that Outcome reports ("ok", "err: ...",
// "panic: ..."), and "" accepts anything but a panic or a hang. A test file
// declares its own type with these fields (so that its table's unkeyed
// literals are its own, which go vet accepts) and passes a slice of it.
type BadInputCase = struct {
	Name string
	Fn   func() error
	Want string
}

// Outcome runs fn on its own goroutine and reports how it ended: "ok",
// "err: MSG", "panic: MSG", or "hang" if it did not return within 5 s (the
// goroutine is then left running).
func Outcome(fn func() error) string {
	done := make(chan string, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Sprint("panic: ", v)
			}
		}()
		if err := fn(); err != nil {
			done <- "err: " + err.Error()
			return
		}
		done <- "ok"
	}()
	select {
	case s := <-done:
		return s
	case <-time.After(5 * time.Second):
		return "hang"
	}
}

// RunBadInput runs each case as a subtest and checks its Outcome against
// Want, logging the outcome.
func RunBadInput[C ~BadInputCase](t *testing.T, cases []C) {
	t.Helper()
	for _, cc := range cases {
		c := BadInputCase(cc)
		t.Run(c.Name, func(t *testing.T) {
			got := Outcome(c.Fn)
			t.Logf("%s => %s", c.Name, got)
			switch {
			case c.Want == "" && (strings.HasPrefix(got, "panic") || got == "hang"):
				t.Errorf("got %q, want no panic or hang", got)
			case c.Want != "" && !strings.HasPrefix(got, c.Want):
				t.Errorf("got %q, want prefix %q", got, c.Want)
			}
		})
	}
}
