package weft_test

import (
	"io"
	"testing"
	"time"

	"github.com/weftkit/weft"
)

// fakeTransport records WriteBuffers calls (a Transport not made by weft).
type fakeTransport struct {
	weft.Transport
	got [][]byte
}

func (f *fakeTransport) WriteBuffers(bufs ...[]byte) error {
	f.got = append(f.got, bufs...)
	return nil
}

// TestWriteParts: WriteParts writes head, body and tail as one write on the
// runtime's Transport (each engine), and falls back to WriteBuffers on others.
func TestWriteParts(t *testing.T) {
	for _, tp := range transports {
		t.Run(tp.name, func(t *testing.T) {
			s, c := tp.pair(t)
			r := newRecorder(t)
			r.onMade = func(tr weft.Transport) {
				if err := weft.WriteParts(tr, []byte("5:"), []byte("hello"), []byte(",")); err != nil {
					t.Errorf("WriteParts: %v", err)
				}
				weft.WriteParts(tr, nil, []byte("|"), nil)
				tr.LoseConnection()
			}
			done := serve(s, r, nil)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "5:hello,|" {
				t.Fatalf("peer got %q, %v", got, err)
			}
			<-done
		})
	}
	f := &fakeTransport{}
	err := weft.WriteParts(f, []byte("a"), []byte("b"), []byte("c"))
	if err != nil || len(f.got) != 3 || string(f.got[0]) != "a" || string(f.got[1]) != "b" || string(f.got[2]) != "c" {
		t.Fatalf("fallback: WriteBuffers got %q, %v; want [a b c]", f.got, err)
	}
}

// TestWritePartsCountsFrames: every WriteParts frame is counted once in
// Counters.FramesOut, also past the 65,535 frames one buffered write can
// count before it spills into the counter, while plain writes count none.
func TestWritePartsCountsFrames(t *testing.T) {
	const frames = 70_000
	for _, tp := range transports {
		t.Run(tp.name, func(t *testing.T) {
			s, c := tp.pair(t)
			var cnt weft.Counters
			r := newRecorder(t)
			r.onMade = func(tr weft.Transport) {
				for range frames { // one callback: all are queued together
					weft.WriteParts(tr, nil, []byte("x"), nil)
				}
				tr.Write([]byte("not a frame"))
				tr.LoseConnection()
			}
			done := serve(s, r, &weft.Options{Counters: &cnt, MaxWriteBuffer: 1 << 20})
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || len(got) != frames+len("not a frame") {
				t.Fatalf("peer got %d bytes, %v", len(got), err)
			}
			<-done
			if n := cnt.FramesOut.Load(); n != frames {
				t.Fatalf("FramesOut = %d, want %d", n, frames)
			}
		})
	}
}

// writeCounter is a Transport not made by weft that records its Writes.
type writeCounter struct {
	weft.Transport
	got []string
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.got = append(w.got, string(p))
	return len(p), nil
}

// TestWriteFrames: WriteFrames writes its bytes as one Write and counts the
// frames it says they hold, also more than one buffered write can count
// (65,535), and a negative count as none; over a Transport not made by weft
// it is one Write.
func TestWriteFrames(t *testing.T) {
	for _, tp := range transports {
		t.Run(tp.name, func(t *testing.T) {
			s, c := tp.pair(t)
			var cnt weft.Counters
			r := newRecorder(t)
			r.onMade = func(tr weft.Transport) {
				for _, n := range []int{3, 70_000, 0, -5} {
					if err := weft.WriteFrames(tr, []byte("abc"), n); err != nil {
						t.Errorf("WriteFrames(%d): %v", n, err)
					}
				}
				tr.LoseConnection()
			}
			done := serve(s, r, &weft.Options{Counters: &cnt})
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "abcabcabcabc" {
				t.Fatalf("peer got %q, %v", got, err)
			}
			<-done
			if n := cnt.FramesOut.Load(); n != 70_003 {
				t.Fatalf("FramesOut = %d, want 70003", n)
			}
		})
	}
	w := &writeCounter{}
	if err := weft.WriteFrames(w, []byte("xy"), 2); err != nil || len(w.got) != 1 || w.got[0] != "xy" {
		t.Fatalf("fallback: Writes %q, %v; want one of \"xy\"", w.got, err)
	}
	if err := weft.WriteFrames(nil, []byte("x"), 1); err == nil {
		t.Fatal("WriteFrames(nil, ...) returned no error")
	}
}
