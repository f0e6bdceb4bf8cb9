package weft

// On Windows a connection always runs on a goroutine of its own and reads
// and writes through its net.Conn: there is no readiness engine, and a
// socket is not read or written through its syscall.RawConn. The functions
// below are never called there; they exist so that the shared code builds.

// rawSockets: see sys_sockets.go.
const rawSockets = false

func sysRead(int, []byte) (int, error) { return 0, ErrNotSupported }

func sysWrite(int, []byte) (int, error) { return 0, ErrNotSupported }

func sysClose(int) {}

func sysShutdownWrite(int) {}

func readSock(uintptr, []byte) (int, error) { return 0, ErrNotSupported }

func lingerZero(int) {}

func sockError(int) error { return nil }
