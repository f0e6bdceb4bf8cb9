package codec

// Raw passes bytes through as they arrive: each Decode returns everything
// buffered as one frame, and AppendFrame appends the payload unchanged. It has
// no frame boundaries and no limit (it never buffers).
type Raw struct{}

// NewDecoder returns a pass-through decoder.
func (Raw) NewDecoder() Decoder { return &rawDecoder{} }

// AppendFrame appends payload unchanged.
func (Raw) AppendFrame(dst, payload []byte) ([]byte, error) { return append(dst, payload...), nil }

type rawDecoder struct{ scanned int64 }

func (d *rawDecoder) Reset()              { d.scanned = 0 }
func (d *rawDecoder) BytesScanned() int64 { return d.scanned }

// Decode returns all of buf, or asks for more when buf is empty: an empty raw
// chunk is never a frame.
func (d *rawDecoder) Decode(buf []byte) (int, []byte, error) {
	d.scanned += int64(len(buf))
	return len(buf), buf, nil
}
