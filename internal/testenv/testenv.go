// Package testenv holds helpers shared by weft's tests: finding the real peer
// programs (Twisted, nc, ngircd, haproxy, gpg, openssl) that interop tests talk
// to, skipping (or failing, under WEFT_REQUIRE_PEERS=1) when one is
// missing; LateTransport, a fake Transport whose posted work runs when the
// test says; PipeListener, an in-memory listener over net.Pipe;
// SyncBuffer, an output buffer safe for a writer and a reader; StartSelf and
// WantExit, to run a main in a child process and check how it ended; and
// HangingProgram and WaitGone, a child program that never ends (unix);
// Outcome and RunBadInput, for the bad-input table tests; TLSConfigs, a
// self-signed certificate and the configs of both ends.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// PeersRequired reports whether WEFT_REQUIRE_PEERS=1 is set (as in .ci/run):
// a missing peer program is then a test failure instead of a skip.
func PeersRequired() bool { return os.Getenv("WEFT_REQUIRE_PEERS") == "1" }

// Missing skips the test (or fails it when peers are required) with a message
// that says what to install.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	if PeersRequired() {
		t.Fatalf("%s is required (WEFT_REQUIRE_PEERS=1) but missing: install %s", what, install)
	}
	t.Skipf("%s not available: install %s to run this interop test", what, install)
}

// LookPath returns the path of program, or skips/fails the test naming the
// Debian package that provides it.
func LookPath(t testing.TB, program, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err != nil {
		Missing(t, program, "the Debian package "+debianPackage)
	}
	return p
}

// TwistedPython is the interpreter that can import Debian's python3-twisted.
const TwistedPython = "/usr/bin/python3"

// Twisted returns TwistedPython after checking that it imports twisted, or
// skips/fails the test.
func Twisted(t testing.TB) string {
	t.Helper()
	if err := exec.Command(TwistedPython, "-c", "import twisted.internet.protocol").Run(); err != nil {
		Missing(t, "Twisted for "+TwistedPython, "the Debian package python3-twisted")
	}
	return TwistedPython
}
