//go:build !linux

package weft

import "net"

// Engine is the readiness engine; it exists on Linux only. Elsewhere
// NewEngine fails and connections use a goroutine each.
type Engine struct{}

// NewEngine returns ErrNotSupported outside Linux.
func NewEngine() (*Engine, error) { return nil, ErrNotSupported }

// Close does nothing.
func (e *Engine) Close() error { return nil }

func (e *Engine) add(*Conn) error { return ErrNotSupported }

func (e *Engine) addFD(*Conn) error { return ErrNotSupported }

func (e *Engine) remove(*Conn) {}

func (e *Engine) enqueue(*Conn) {}

func (e *Engine) release(*Conn, int) {}

func fdConn(int) (net.Conn, error) { return nil, ErrNotSupported }
