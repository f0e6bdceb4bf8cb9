"""Twisted client for weft's codec interop test.

Usage: twisted_client.py LINE_PORT NETSTRING_PORT INT32_PORT LIMIT

For each of Twisted's LineReceiver, NetstringReceiver and Int32StringReceiver
it connects to the weft echo server on 127.0.0.1, sends frames of 0 bytes,
1 byte and LIMIT bytes and checks they come back; then sends a frame of
LIMIT+1 bytes on a new connection and checks the server closes it without
echoing; then checks on a third connection that the server still serves.
Prints one line per check and exits non-zero on any failure.
"""
import sys

from twisted.internet import defer, endpoints, task
from twisted.protocols.basic import Int32StringReceiver, LineReceiver, NetstringReceiver

TIMEOUT = 10


class Recorder:
    def connectionMade(self):
        self.received = []
        self.lost = defer.Deferred()
        self._want = None

    def got(self, s):
        self.received.append(s)
        if self._want and len(self.received) >= self._want[0]:
            d, self._want = self._want[1], None
            d.callback(self.received)

    def wait(self, n):
        d = defer.Deferred()
        if len(self.received) >= n:
            d.callback(self.received)
        else:
            self._want = (n, d)
        return d

    def connectionLost(self, reason):
        self.reason = reason
        self.lost.callback(None)


class Line(Recorder, LineReceiver):
    delimiter = b"\r\n"
    MAX_LENGTH = 1 << 20

    def lineReceived(self, line):
        self.got(line)

    def send(self, b):
        self.sendLine(b)


class Netstring(Recorder, NetstringReceiver):
    MAX_LENGTH = 1 << 20

    def stringReceived(self, s):
        self.got(s)

    def send(self, b):
        self.sendString(b)


class Int32(Recorder, Int32StringReceiver):
    MAX_LENGTH = 1 << 20

    def stringReceived(self, s):
        self.got(s)

    def send(self, b):
        self.sendString(b)


@defer.inlineCallbacks
def connect(reactor, cls, port):
    p = cls()
    ep = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=TIMEOUT)
    yield endpoints.connectProtocol(ep, p).addTimeout(TIMEOUT, reactor)
    return p


@defer.inlineCallbacks
def check(reactor, name, cls, port, limit):
    frames = [b"", b"x", b"y" * limit]
    p = yield connect(reactor, cls, port)
    for f in frames:
        p.send(f)
    got = yield p.wait(len(frames)).addTimeout(TIMEOUT, reactor)
    if got != frames:
        raise AssertionError("%s: echo mismatch: %r" % (name, [len(g) for g in got]))
    p.transport.loseConnection()
    yield p.lost
    print("%s: echoed frames of 0, 1 and %d bytes" % (name, limit))

    p = yield connect(reactor, cls, port)
    p.send(b"z" * (limit + 1))
    yield p.lost.addTimeout(TIMEOUT, reactor)
    if p.received:
        raise AssertionError("%s: over-limit frame was echoed" % name)
    print("%s: frame of %d bytes: connection closed by the server" % (name, limit + 1))

    p = yield connect(reactor, cls, port)
    p.send(b"again")
    got = yield p.wait(1).addTimeout(TIMEOUT, reactor)
    if got != [b"again"]:
        raise AssertionError("%s: server no longer serving: %r" % (name, got))
    p.transport.loseConnection()
    yield p.lost
    print("%s: server still serving" % name)


@defer.inlineCallbacks
def main(reactor, line_port, ns_port, int_port, limit):
    limit = int(limit)
    yield check(reactor, "LineReceiver", Line, int(line_port), limit)
    yield check(reactor, "NetstringReceiver", Netstring, int(ns_port), limit)
    yield check(reactor, "Int32StringReceiver", Int32, int(int_port), limit)


if __name__ == "__main__":
    task.react(main, sys.argv[1:])
