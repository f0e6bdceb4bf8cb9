//go:build !unix

package main

// onHangup does nothing where there is no SIGHUP (Windows): weft logbot
// does not reopen its log there.
func onHangup(fn func()) (stop func()) { return func() {} }
