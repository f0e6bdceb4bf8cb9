"""Twisted peer server for the weft benchmarks.

Runs on the epoll reactor with Twisted's own receivers:
  echo line       LineReceiver        (lineReceived -> sendLine)
  echo netstring  NetstringReceiver   (stringReceived -> sendString)
  echo int32      Int32StringReceiver (stringReceived -> sendString)
  chat            LineReceiver chat: "What's your name?", "Welcome, NAME!",
                  then "<NAME> text" to every other client.

Usage: /usr/bin/python3 peer.py PROTO CODEC HOST:PORT [BLOCKHOST:PORT]
(PROTO: echo or chat). With BLOCKHOST:PORT (echo line only), a second
listener whose LineReceiver sleeps 10 ms every 10 lines (blocking scenario).
Prints "listening on tcp HOST:PORT" when ready. The listen backlog is 4096,
like Go's (somaxconn), so that connection bursts compare fairly.
"""
import resource
import sys
import time

from twisted.internet import epollreactor

epollreactor.install()

from twisted.internet import protocol, reactor  # noqa: E402
from twisted.protocols import basic  # noqa: E402


class LineEcho(basic.LineReceiver):
    MAX_LENGTH = 1 << 20

    def lineReceived(self, line):
        self.sendLine(line)


class NetstringEcho(basic.NetstringReceiver):
    MAX_LENGTH = 1 << 20

    def stringReceived(self, string):
        self.sendString(string)


class Int32Echo(basic.Int32StringReceiver):
    MAX_LENGTH = 1 << 20

    def stringReceived(self, string):
        self.sendString(string)


class BlockingLineEcho(LineEcho):
    """LineEcho whose callback sleeps BLOCK_SLEEP every BLOCK_EVERY lines."""

    frames = 0

    def lineReceived(self, line):
        self.frames += 1
        if self.frames % BLOCK_EVERY == 0:
            time.sleep(BLOCK_SLEEP)
        self.sendLine(line)


BLOCK_EVERY = 10
BLOCK_SLEEP = 0.010


class Chat(basic.LineReceiver):
    def __init__(self, users):
        self.users = users
        self.name = None

    def connectionMade(self):
        self.sendLine(b"What's your name?")

    def connectionLost(self, reason):
        if self.name in self.users:
            del self.users[self.name]

    def lineReceived(self, line):
        if self.name is None:
            self.name = line
            self.users[line] = self
            self.sendLine(b"Welcome, " + line + b"!")
            return
        message = b"<" + self.name + b"> " + line
        for name, protocol in self.users.items():
            if protocol is not self:
                protocol.sendLine(message)


class ChatFactory(protocol.Factory):
    def __init__(self):
        self.users = {}

    def buildProtocol(self, addr):
        return Chat(self.users)


ECHO = {"line": LineEcho, "netstring": NetstringEcho, "int32": Int32Echo}


def main():
    if len(sys.argv) not in (4, 5) or sys.argv[1] not in ("echo", "chat") or sys.argv[2] not in ECHO:
        sys.exit("usage: peer.py echo|chat line|netstring|int32 HOST:PORT [BLOCKHOST:PORT]")
    proto, codec, addr = sys.argv[1:4]
    host, _, port = addr.rpartition(":")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if proto == "chat":
        factory = ChatFactory()
    else:
        factory = protocol.Factory.forProtocol(ECHO[codec])
    if len(sys.argv) == 5:
        bhost, _, bport = sys.argv[4].rpartition(":")
        reactor.listenTCP(int(bport), protocol.Factory.forProtocol(BlockingLineEcho),
                          backlog=4096, interface=bhost)
    port = reactor.listenTCP(int(port), factory, backlog=4096, interface=host)
    h = port.getHost()
    print("listening on tcp %s:%d" % (h.host, h.port), flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
