package process_test

import (
	"context"
	"os/exec"
	"testing"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/process"
)

// ctxProbe records whether its Transport's Context was done when
// ConnectionLost came.
type ctxProbe struct {
	t          weft.Transport
	doneAtLost chan bool
}

func (p *ctxProbe) ConnectionMade(t weft.Transport) { p.t = t; _ = t.Context() }
func (p *ctxProbe) DataReceived([]byte)             {}
func (p *ctxProbe) ConnectionLost(error) {
	p.doneAtLost <- p.t.Context().Err() != nil
}

// A Stream's Context is done when ConnectionLost is called, as the
// runtime's is (weft.Transport.Context: "done when the connection is
// lost"); before, it was done only once ConnectionLost had returned.
func TestStreamContextDoneAtConnectionLost(t *testing.T) {
	if _, err := exec.LookPath("true"); err != nil {
		t.Skip("no true(1)")
	}
	probe := &ctxProbe{doneAtLost: make(chan bool, 1)}
	pr, err := process.Start(context.Background(), exec.Command("true"), &process.Stream{Protocol: probe}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pr.Wait()
	if !<-probe.doneAtLost {
		t.Error("the Stream's Context was not done when ConnectionLost was called")
	}
}
