//go:build race

package codec_test

// raceEnabled: the race detector slows exhaustive tests tenfold; they then
// use a smaller (still systematic) set of inputs.
const raceEnabled = true
