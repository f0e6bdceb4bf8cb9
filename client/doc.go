// Package client is the client side of weft: connecting a Protocol to an
// endpoint once, or keeping a Factory connected across failures.
//
// The pieces:
//
//   - Dial: connect one Protocol (Twisted's connectProtocol / ClientCreator);
//     it returns once ConnectionMade has run, with a Conn handle (Transport,
//     Done, Wait, Close).
//   - Reconnecting: keeps a weft.Factory connected (Twisted's
//     ReconnectingClientFactory, done right): a new Protocol per connection,
//     exponential backoff with jitter between attempts, reset after every
//     successful connection (or, with StableAfter, only after one that stayed
//     up that long: a server that accepts and hangs up at once then meets a
//     growing delay), MaxRetries, hooks, and Stop / context cancellation that
//     end it promptly in every state.
//   - Backoff, BackoffFunc, Exponential and the presets GRPC (the default),
//     Twisted and FullJitter: the delay before each retry, deterministic with
//     an injected random source.
//   - DialFunc: how a connection is opened; endpoint.Dial by default, any
//     function in tests.
//
// Endpoints are client description strings of package endpoint
// ("tcp:host:port", "unix:/path", "tls:host:port:caCerts=ca.pem").
// docs/guide.md (section 5) maps Twisted's client API to this package.
package client
