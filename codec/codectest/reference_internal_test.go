package codectest

import (
	"fmt"
	"testing"

	"github.com/weftkit/weft/codec"
)

// TestSameAsReference: FuzzAgainst's comparison catches a frame, an error
// kind or a leftover count that differs from the reference decoder's, and
// ignores only the error's wording.
func TestSameAsReference(t *testing.T) {
	base := Result{Frames: [][]byte{[]byte("a")}, Rest: 2}
	tooLarge := fmt.Errorf("%w: at offset 3", codec.ErrFrameTooLarge)
	for _, tc := range []struct {
		name      string
		got, want Result
		differ    bool
	}{
		{"same", base, base, false},
		{"frame", Result{Frames: [][]byte{[]byte("b")}, Rest: 2}, base, true},
		{"missing frame", Result{Rest: 2}, base, true},
		{"rest", Result{Frames: base.Frames, Rest: 3}, base, true},
		{"error vs none", Result{Frames: base.Frames, Err: tooLarge}, base, true},
		{"error kind", Result{Err: tooLarge}, Result{Err: codec.ErrMalformed}, true},
		{"same kind, other words", Result{Err: tooLarge, Rest: 5}, Result{Err: codec.ErrFrameTooLarge}, false},
	} {
		if err := sameAsReference(tc.got, tc.want, false); (err != nil) != tc.differ {
			t.Errorf("%s: sameAsReference = %v, want a difference: %v", tc.name, err, tc.differ)
		}
	}
}
