package server

import "testing"

// wantFDPath fails the test if s has an Engine but none of its listeners
// accepts descriptors: a test meant for the descriptor accept path would
// silently test the net.Conn one. Call it while s serves (after a
// connection was served: Serve registers its listener on its goroutine).
func wantFDPath(t *testing.T, s *Server) {
	t.Helper()
	if s.usesEngine() && !byFD(s) {
		t.Fatal("the descriptor accept path was not used")
	}
}
