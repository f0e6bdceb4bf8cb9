"""Half-close interop, Twisted as the client: send argv[2] bytes to
127.0.0.1:argv[1], end the output with loseWriteConnection, print what the
server answers until it closes, then "lost: <reason class>"."""
import sys

from twisted.internet import protocol, reactor


class Client(protocol.Protocol):
    def connectionMade(self):
        self.got = b""
        self.transport.write(b"x" * int(sys.argv[2]))
        self.transport.loseWriteConnection()

    def dataReceived(self, data):
        self.got += data

    def connectionLost(self, reason):
        sys.stdout.write(self.got.decode())
        print("lost:", reason.type.__name__)
        sys.stdout.flush()
        reactor.stop()


class Factory(protocol.ClientFactory):
    def buildProtocol(self, addr):
        return Client()

    def clientConnectionFailed(self, connector, reason):
        print("failed:", reason.getErrorMessage())
        reactor.stop()


reactor.connectTCP("127.0.0.1", int(sys.argv[1]), Factory())
reactor.callLater(20, reactor.stop)
reactor.run()
