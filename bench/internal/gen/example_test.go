package gen_test

import (
	"fmt"

	"github.com/weftkit/weft/bench/internal/gen"
)

// A frame carries its connection and sequence number (connection 7 in the
// high 32 bits of the hex tag, frame 42 in the low ones) and a pattern derived
// from both, so the generator checks every echoed byte without keeping a copy
// of what it sent.
func ExampleFramer() {
	f, _ := gen.NewFramer(gen.Netstring, 24)
	frame := f.Append(nil, 7, 42)
	fmt.Printf("%s\n", frame)
	fmt.Println(f.Verify(frame, 7, 42), f.Verify(frame, 7, 43))
	// Output:
	// 24:000000070000002axyzabcde,
	// true false
}
