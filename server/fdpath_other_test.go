//go:build !linux

package server

import "testing"

// wantFDPath: there is no descriptor accept path (nor engine) here.
func wantFDPath(*testing.T, *Server) {}
