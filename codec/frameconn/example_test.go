package frameconn_test

import (
	"encoding/binary"
	"fmt"
	"net"

	// Was: "github.com/smallnest/goframe". The constructors and configs are
	// the same; frames are now limited and read correctly.
	goframe "github.com/weftkit/weft/codec/frameconn"
)

func Example() {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	enc := goframe.EncoderConfig{ByteOrder: binary.BigEndian, LengthFieldLength: 4}
	dec := goframe.DecoderConfig{ByteOrder: binary.BigEndian, LengthFieldLength: 4, InitialBytesToStrip: 4}
	go func() {
		fc := goframe.NewLengthFieldBasedFrameConn(enc, dec, client)
		_ = fc.WriteFrame([]byte("hello"))
	}()
	fc := goframe.NewLengthFieldBasedFrameConn(enc, dec, server)
	frame, err := fc.ReadFrame()
	fmt.Printf("%s %v\n", frame, err)
	// Output: hello <nil>
}
