package chat

import (
	"slices"
	"testing"
	"unicode"
)

// TestOneSpellingTables: composingPairs is sorted (oneSpelling searches it)
// and holds only pairs whose base is outside precomposedScripts (the
// others are refused whatever the mark) and whose second rune is a mark
// (oneSpelling looks it up for marks only).
func TestOneSpellingTables(t *testing.T) {
	if !slices.IsSorted(composingPairs) {
		t.Error("composingPairs is not sorted")
	}
	for _, p := range composingPairs {
		base, mark := rune(p>>21), rune(p&(1<<21-1))
		if unicode.In(base, precomposedScripts...) || !unicode.In(mark, unicode.M) {
			t.Errorf("pair %U %U: base in a precomposed script, or not a mark", base, mark)
		}
	}
}
