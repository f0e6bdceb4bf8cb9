"""Half-close interop, Twisted as the server: a protocol providing
IHalfCloseableProtocol counts the bytes of a request until the client's end
of stream (readConnectionLost), then answers "<n> bytes" and closes. Prints
the port, then one line per connection lost."""
import sys

from zope.interface import implementer
from twisted.internet import interfaces, protocol, reactor


@implementer(interfaces.IHalfCloseableProtocol)
class Counter(protocol.Protocol):
    n = 0

    def dataReceived(self, data):
        self.n += len(data)

    def readConnectionLost(self):
        self.transport.write(b"%d bytes\n" % self.n)
        self.transport.loseConnection()

    def writeConnectionLost(self):
        pass

    def connectionLost(self, reason):
        print("lost:", reason.type.__name__)
        sys.stdout.flush()


f = protocol.Factory.forProtocol(Counter)
port = reactor.listenTCP(0, f, interface="127.0.0.1")
print(port.getHost().port)
sys.stdout.flush()
reactor.callLater(60, reactor.stop)
reactor.run()
