package codec_test

import (
	"bytes"
	"fmt"
	"net"

	"github.com/weftkit/weft"
	"github.com/weftkit/weft/codec"
)

// binSwitch greets in lines; after the line "BINARY" it answers "OK" (still a
// line) and speaks 32-bit length-prefixed frames from the next byte on, as a
// Twisted LineReceiver does with setRawMode.
type binSwitch struct {
	t      codec.FrameTransport
	binary bool
}

func (b *binSwitch) ConnectionMade(t codec.FrameTransport) {
	b.t = t
	t.SendFrame([]byte("HELLO: say BINARY"))
}

func (b *binSwitch) FrameReceived(frame []byte) {
	switch {
	case b.binary:
		b.t.SendFrame(append([]byte("got "), frame...))
		b.t.LoseConnection()
	case string(frame) == "BINARY":
		b.t.SendFrame([]byte("OK"))
		b.t.SetCodec(codec.Int32()) // the bytes after this line are frames
		b.binary = true
	}
}

func (b *binSwitch) ConnectionLost(reason error) {}

// Switching framing mid-connection: a line greeting, then 32-bit
// length-prefixed frames, on both sides. The client sends the switch command
// and its first frame in one write; the server decodes the frame's bytes,
// already received with the line, with the new codec. On the client,
// FrameReader.SetCodec does the same with the bytes it has buffered.
func ExampleFrameTransport_SetCodec() {
	server, client := net.Pipe()
	go weft.Serve(server, codec.NewProtocol(codec.Line{}, &binSwitch{}), nil)

	r := codec.NewFrameReader(client, codec.Line{})
	greeting, _ := r.ReadFrame()
	fmt.Printf("line: %s\n", greeting)

	var out bytes.Buffer
	codec.NewFrameWriter(&out, codec.Line{}).WriteFrame([]byte("BINARY"))
	codec.NewFrameWriter(&out, codec.Int32()).WriteFrame([]byte("\x00\x01 binary"))
	client.Write(out.Bytes()) // "BINARY\r\n\x00\x00\x00\x09\x00\x01 binary"

	ok, _ := r.ReadFrame()
	fmt.Printf("line: %s\n", ok)
	r.SetCodec(codec.Int32())
	reply, _ := r.ReadFrame()
	fmt.Printf("frame: %q\n", reply)
	_, err := r.ReadFrame()
	fmt.Println("then:", err)
	// Output:
	// line: HELLO: say BINARY
	// line: OK
	// frame: "got \x00\x01 binary"
	// then: EOF
}
