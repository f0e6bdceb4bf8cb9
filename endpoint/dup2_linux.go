package endpoint

import "syscall"

// dup2 makes newfd a copy of oldfd (dup3: linux/arm64 has no dup2).
func dup2(oldfd, newfd int) error { return syscall.Dup3(oldfd, newfd, 0) }
