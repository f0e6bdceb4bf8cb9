//go:build !linux

package server

import "errors"

func childEMFILE() error { return errors.New("the EMFILE child runs on Linux only") }
