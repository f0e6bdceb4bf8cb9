//go:build unix && !solaris && !(darwin || dragonfly || freebsd || linux || netbsd)

package endpoint

// nonblocking cannot read the flag here (fcntl is reached through libc):
// stdio: then leaves it as it sets it.
func nonblocking(int) (nb, known bool) { return false, false }
