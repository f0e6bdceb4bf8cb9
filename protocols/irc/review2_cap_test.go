package irc

import (
	"strings"
	"sync"
	"testing"
)

// A hostile session on one Client, then a reconnect on the same Client:
// wanted names at the longest Config.Caps allows each get a REQ line within
// MaxLineLength; NEW/DEL storms and ACKs of caps never offered stay within
// what was asked; Caps and SendTagged from other goroutines meanwhile are
// race-free; the second connection starts from nothing (CAP LS 302 again,
// no capability kept) and negotiates again, with one CAP END each.
func TestReview2CapHostileReconnect(t *testing.T) {
	long := func(c byte) string { return strings.Repeat(string(c), maxContent-len("CAP REQ :")) }
	wanted := []string{long('a'), long('b'), "message-tags", "server-time"}
	c, err := NewClient(Config{Nick: "bot", Caps: wanted}, nil)
	if err != nil {
		t.Fatal(err)
	}
	session := func(tr *recTransport) []string {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Add(1)
		go func() { // a user of the Client on another goroutine
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = c.Caps()
				_ = c.SendTagged(map[string]string{"+typing": "active"}, "TAGMSG", "#c")
			}
		}()
		c.ConnectionMade(tr)
		tr.RunPosted()
		var in strings.Builder
		for range 40 { // LS continuation without end, each with huge values
			in.WriteString(":s CAP * LS * :" + long('a') + "=" + strings.Repeat("v", 4000) + " " + long('b') + "\r\n")
		}
		in.WriteString(":s CAP * LS :message-tags server-time\r\n")
		in.WriteString(":s CAP * ACK :evil message-tags " + long('a') + "\r\n") // evil never offered; none REQ'd yet in that order
		for range 50 {
			in.WriteString(":s CAP * NEW :server-time evil\r\n:s CAP * DEL :server-time\r\n")
		}
		in.WriteString(":s CAP * NAK :" + long('b') + "\r\n:s CAP * ACK :server-time\r\n:s 001 bot :hi\r\n")
		c.DataReceived([]byte(in.String()))
		tr.RunPosted()
		close(stop)
		wg.Wait()
		for k := range c.Caps() {
			if k == "evil" {
				t.Errorf("Caps() holds %q, never asked", k)
			}
		}
		c.ConnectionLost(nil)
		tr.RunPosted()
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return strings.Split(strings.TrimSuffix(tr.out.String(), "\r\n"), "\r\n")
	}
	for round := range 2 {
		lines := session(&recTransport{})
		if lines[0] != "CAP LS 302" {
			t.Fatalf("round %d: first line %q, want CAP LS 302", round, lines[0])
		}
		ends := 0
		for _, l := range lines {
			if len(l)+2 > MaxLineLength && !strings.HasPrefix(l, "@") {
				t.Errorf("round %d: sent a %d-byte line", round, len(l)+2)
			}
			if l == "CAP END" {
				ends++
			}
		}
		if ends != 1 {
			t.Errorf("round %d: CAP END sent %d times, want once; sent %q", round, ends, lines)
		}
	}
}
