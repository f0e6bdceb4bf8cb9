//go:build !unix

package main

import "syscall"

// reraises is false where no signal can be re-raised: get and connect, cut
// short by a signal, exit with status 128 + its number.
const reraises = false

// reraise does nothing here (Windows: a process cannot end "killed by" a
// console event); the caller exits with 128 + sig.
func reraise(sig syscall.Signal) {}
