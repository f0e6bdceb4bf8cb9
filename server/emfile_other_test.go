//go:build !linux

package server

import "errors"

func childEMFILE(string) error { return errors.New("the EMFILE child runs on Linux only") }
