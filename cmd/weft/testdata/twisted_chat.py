"""Three Twisted LineReceiver clients hold the chat conversation of issue 6
with `weft serve chat`. Each step either sends a line from one client or
waits for the next line one client receives, and checks it exactly.

usage: twisted_chat.py PORT
Prints "OK n" and exits 0 when every step passed, exits 1 otherwise.
"""
import sys

from twisted.internet import defer, endpoints, reactor
from twisted.protocols import basic

PORT = int(sys.argv[1])

SCRIPT = [
    ("a", "expect", "What's your name?"),
    ("a", "send", "alice"),
    ("a", "expect", "Welcome, alice!"),
    ("b", "expect", "What's your name?"),
    ("b", "send", "alice"),
    ("b", "expect", "Name taken, please choose another."),
    ("b", "send", "bob"),
    ("b", "expect", "Welcome, bob!"),
    ("a", "expect", "bob has joined."),
    ("c", "expect", "What's your name?"),
    ("c", "send", "carol"),
    ("c", "expect", "Welcome, carol!"),
    ("a", "expect", "carol has joined."),
    ("b", "expect", "carol has joined."),
    ("a", "send", "Hello from Twisted"),
    ("b", "expect", "<alice> Hello from Twisted"),
    ("c", "expect", "<alice> Hello from Twisted"),
    ("b", "send", "/who"),
    ("b", "expect", "Online: alice, bob, carol"),
    ("c", "send", "/name dave"),
    ("a", "expect", "carol is now known as dave."),
    ("b", "expect", "carol is now known as dave."),
    ("c", "expect", "carol is now known as dave."),
    ("a", "send", "/NAME bob"),
    ("a", "expect", "Name taken, please choose another."),
    ("b", "send", "/quit"),
    ("b", "expect", "Bye."),
    ("a", "expect", "bob has left."),
    ("c", "expect", "bob has left."),
    ("c", "close", None),
    ("a", "expect", "dave has left."),
    ("a", "send", "/EXIT"),
    ("a", "expect", "Bye."),
]


class Client(basic.LineReceiver):
    def connectionMade(self):
        self.lines, self.waiting = [], None

    def lineReceived(self, line):
        self.lines.append(line.decode())
        self._wake()

    def _wake(self):
        if self.waiting and self.lines:
            d, self.waiting = self.waiting, None
            d.callback(self.lines.pop(0))

    def next_line(self):
        self.waiting = defer.Deferred()
        d = self.waiting
        self._wake()
        return d


@defer.inlineCallbacks
def main():
    clients = {}
    done = 0
    for who, what, arg in SCRIPT:
        if who not in clients:
            ep = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", PORT)
            clients[who] = yield endpoints.connectProtocol(ep, Client())
        c = clients[who]
        if what == "send":
            c.sendLine(arg.encode())
        elif what == "close":
            c.transport.loseConnection()
        else:
            got = yield c.next_line()
            if got != arg:
                raise AssertionError("%s got %r, want %r" % (who, got, arg))
        done += 1
    return done


def finish(result):
    if isinstance(result, int):
        print("OK", result)
        finish.code = 0
    else:
        print("FAIL", result.getErrorMessage())
    reactor.stop()


finish.code = 1
reactor.callWhenRunning(lambda: main().addBoth(finish))
reactor.callLater(20, reactor.stop)
reactor.run()
sys.exit(finish.code)
