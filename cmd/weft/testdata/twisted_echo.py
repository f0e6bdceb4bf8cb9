"""Twisted client for `weft serve echo --codec FRAMING`: sends frames with
Twisted's own LineReceiver / NetstringReceiver / Int32StringReceiver and
checks that each comes back unchanged.

usage: twisted_echo.py PORT line|netstring|int32
Prints "OK n" and exits 0 on success, exits 1 otherwise.
"""
import sys

from twisted.internet import protocol, reactor
from twisted.protocols import basic

PORT, FRAMING = int(sys.argv[1]), sys.argv[2]
MESSAGES = [b"hello", b"", b"with spaces and : , colons", b"x" * 5000, "caf\u00e9".encode()]
if FRAMING == "line":
    MESSAGES.append(b"last")  # after the empty line, which comes back too
BASE = {"line": basic.LineReceiver, "netstring": basic.NetstringReceiver,
        "int32": basic.Int32StringReceiver}[FRAMING]
result = {"ok": False, "why": "no answer"}


class Client(BASE):
    def connectionMade(self):
        self.got = []
        for m in MESSAGES:
            if FRAMING == "line":
                self.sendLine(m)
            else:
                self.sendString(m)

    def frame(self, data):
        self.got.append(data)
        if len(self.got) == len(MESSAGES):
            result["ok"] = self.got == MESSAGES
            result["why"] = "got %r" % (self.got,)
            self.transport.loseConnection()

    lineReceived = frame
    stringReceived = frame


class Factory(protocol.ClientFactory):
    protocol = Client

    def clientConnectionLost(self, connector, reason):
        reactor.stop()

    def clientConnectionFailed(self, connector, reason):
        result["why"] = str(reason)
        reactor.stop()


reactor.connectTCP("127.0.0.1", PORT, Factory())
reactor.callLater(20, reactor.stop)
reactor.run()
if result["ok"]:
    print("OK", len(MESSAGES))
    sys.exit(0)
print("FAIL", result["why"])
sys.exit(1)
