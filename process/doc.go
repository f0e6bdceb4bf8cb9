// Package process drives child processes through Twisted's ProcessProtocol
// model: the parent talks to a child over pipes, and one protocol object
// reacts to the child's events, its callbacks never concurrent.
//
// The pieces:
//
//   - Start: runs an *exec.Cmd with pipes on the descriptors that Options.ChildFDs
//     names (default: stdin written by the parent, stdout and stderr read by
//     it; extra descriptors 3, 4, ... go through Cmd.ExtraFiles) and returns
//     the *Process.
//   - ProcessProtocol: ConnectionMade, ChildDataReceived(fd, data),
//     ChildConnectionLost(fd), ProcessExited(status), ProcessEnded(status) —
//     always in that order, one at a time. Base gives no-op methods to embed.
//   - Transport (implemented by *Process): Write to stdin, WriteToChild(fd),
//     CloseStdin, CloseChildFD, LoseConnection, Signal, Kill, Pid,
//     PauseReading/ResumeReading, RegisterProducer, Post. Writes never block:
//     they are buffered up to Options.MaxWriteBuffer and written by a goroutine.
//   - Status: ErrProcessDone (exit code 0) or *ProcessTerminated (exit code,
//     signal, and the cause when the context killed the child, the Cmd's
//     own I/O failed, or Options.WaitDelay cut a descriptor a grandchild
//     held open), matched with errors.Is and errors.As.
//   - Stream: an adapter that runs a weft.Protocol over a child: DataReceived
//     gets one descriptor's output (stdout by default), the weft.Transport
//     writes to stdin (weft.LoseWriteConnection closes it), a
//     weft.HalfCloseable Protocol hears of stdout's end, ConnectionLost
//     reports the exit status. Any
//     weft.Protocol — a framed codec protocol included — can talk to a child.
//
// Cancelling the context given to Start kills the child (SIGKILL). The child
// is always reaped, and every goroutine the package starts ends once the child
// has exited and its descriptors are closed (Options.WaitDelay bounds the wait
// for descriptors inherited by grandchildren; output already in a pipe is
// still delivered, after ResumeReading if reading is paused, and a cut is
// reported in the status).
//
// See docs/guide.md (section 7) for the mapping from Twisted's spawnProcess.
package process
