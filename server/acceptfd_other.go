//go:build !linux

package server

// The descriptor accept path exists on Linux only.
func (s *Server) fdAcceptable(*listenerState) bool { return false }

func (s *Server) acceptLoopFD(*listenerState) error { return nil }

// fdSetup is a descriptor-path connection to set up (none here).
type fdSetup struct{}
