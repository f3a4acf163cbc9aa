package state

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// A command carries its message in Command.body, whose case for a Type has field number
// bodyFieldBase + the Type's number. The proposer encodes a command once, straight into
// the entry, and the state machine decodes the entry once, messages included. Commands of
// entries written before body existed carry Type and the message serialized on its own in
// payload; dispatch decodes those as before.
const bodyFieldBase = 100

var (
	commandBodies = (&raftpb.Command{}).ProtoReflect().Descriptor().Oneofs().ByName("body")
	// bodies[typ] is the body case of typ.
	bodies = func() []protoreflect.FieldDescriptor {
		fields := commandBodies.Fields()
		out := make([]protoreflect.FieldDescriptor, fields.Len()+1)
		for i := range fields.Len() {
			fd := fields.Get(i)
			typ := int(fd.Number()) - bodyFieldBase
			if typ < 1 || typ >= len(out) || out[typ] != nil {
				panic(fmt.Sprintf("Command.body case %s is numbered %d, not 100 + its type", fd.Name(), fd.Number()))
			}
			out[typ] = fd
		}
		return out
	}()
)

// bodyField is the body case of typ (nil when typ has none).
func bodyField(typ raftpb.Type) protoreflect.FieldDescriptor {
	if typ < 1 || int(typ) >= len(bodies) {
		return nil
	}
	return bodies[typ]
}

// checkBody returns the body case of typ after checking that m is its message.
func checkBody(typ raftpb.Type, m proto.Message) (protoreflect.FieldDescriptor, error) {
	fd := bodyField(typ)
	if fd == nil {
		return nil, fmt.Errorf("command type %v has no body", typ)
	}
	if m == nil || !m.ProtoReflect().IsValid() {
		return nil, fmt.Errorf("command type %v: no message", typ)
	}
	if got, want := m.ProtoReflect().Descriptor().FullName(), fd.Message().FullName(); got != want {
		return nil, fmt.Errorf("command type %v carries %s, not %s", typ, want, got)
	}
	return fd, nil
}

// NewCommand makes a command of type typ with m as its body. It fails when m is not the
// message of typ.
func NewCommand(typ raftpb.Type, m proto.Message) (*raftpb.Command, error) {
	fd, err := checkBody(typ, m)
	if err != nil {
		return nil, err
	}
	c := &raftpb.Command{}
	c.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(m.ProtoReflect()))
	return c, nil
}

// EncodeCommand encodes a command of type typ with m as its body: the bytes proto.Marshal
// makes of NewCommand(typ, m), written straight from m (its tag, length and encoding).
func EncodeCommand(typ raftpb.Type, m proto.Message) ([]byte, error) {
	fd, err := checkBody(typ, m)
	if err != nil {
		return nil, err
	}
	n := proto.Size(m)
	b := make([]byte, 0, protowire.SizeTag(fd.Number())+protowire.SizeBytes(n))
	b = protowire.AppendTag(b, fd.Number(), protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	return proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, m)
}

// commandBody returns c's type and its body; the body is nil for a command in the old
// envelope (type and payload).
func commandBody(c *raftpb.Command) (raftpb.Type, proto.Message) {
	cr := c.ProtoReflect()
	fd := cr.WhichOneof(commandBodies)
	if fd == nil {
		return c.GetType(), nil
	}
	return raftpb.Type(int32(fd.Number()) - bodyFieldBase), cr.Get(fd).Message().Interface()
}
