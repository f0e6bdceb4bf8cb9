// Package gen is the benchmark load generator's library (bench/cmd/loadgen
// is its command line). The pieces:
//
//   - Framer: builds and verifies frames for the line, netstring and int32
//     codecs; each payload carries its connection and sequence number and a
//     pattern derived from both, so every echoed byte is checked without
//     keeping a copy of what was sent.
//   - Echo (EchoConfig): N connections, P frames in flight each, on epoll
//     loops (one per CPU) that read, verify and answer without allocating.
//   - Idle (IdleConfig): N idle connections from 127.0.0.1–127.0.0.9, the
//     server's RSS growth per connection from /proc, then one echo on each.
//   - Churn (ChurnConfig): connect, one echo, close, K at a time.
//   - Fanout (FanoutConfig): C chat clients; every message must reach the
//     C−1 others, in order, intact.
//   - Result: what a run reports, including the generator's own CPU time and
//     allocations, each CPU's busy time from /proc/stat and the server
//     process's CPU time; Hist, the latency histogram behind its quantiles.
//   - RaiseFileLimit: the soft descriptor limit up to the hard one.
package gen
