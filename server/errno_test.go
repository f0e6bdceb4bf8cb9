package server

import "syscall"

var errEMFILE = syscall.EMFILE
