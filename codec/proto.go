package codec

import (
	"fmt"

	"google.golang.org/protobuf/proto"
)

// ContentTypeProtobuf is the content type of [Proto].
const ContentTypeProtobuf = "application/protobuf"

// Proto returns the Codec of the protocol buffer message type M (a
// generated pointer type such as *orderspb.Order), in the binary wire
// format. Unmarshal returns a new message.
func Proto[M proto.Message]() Codec[M] { return protoCodec[M]{} }

type protoCodec[M proto.Message] struct{}

func (protoCodec[M]) ContentType() string { return ContentTypeProtobuf }

func (protoCodec[M]) Marshal(v M) ([]byte, error) {
	b, err := proto.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("codec: cannot encode %v as protobuf: %w", typeOf[M](), err)
	}
	return b, nil
}

func (protoCodec[M]) Unmarshal(data []byte) (M, error) {
	var zero M
	// A nil pointer of a generated type still reports its message type.
	v := zero.ProtoReflect().Type().New().Interface().(M)
	if err := proto.Unmarshal(data, v); err != nil {
		// proto's errors describe the wire format, never the values.
		return zero, &DecodeError{ContentType: ContentTypeProtobuf, Type: typeOf[M](), Detail: err.Error(), Err: err}
	}
	return v, nil
}
