// Package ended holds the hook by which a Protocol of weft's own packages is
// told that its connection ended, without a done callback allocated per
// connection.
package ended

// Notifier is implemented by a Protocol that wants what Conn.Start's done
// callback would get: the reason, after ConnectionLost, or instead of it when
// the connection failed to start. weft.Conn calls it only when Start was
// given no done callback. The interface is internal and its method name is
// one no user type has by chance, so only weft's own packages implement it.
type Notifier interface {
	// InternalWeftEnded is called once, when the connection has ended, with
	// the reason done would have been given.
	InternalWeftEnded(reason error)
}
