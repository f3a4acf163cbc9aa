package state

import (
	"fmt"

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
	commandFields = (&raftpb.Command{}).ProtoReflect().Descriptor().Fields()
	commandBodies = (&raftpb.Command{}).ProtoReflect().Descriptor().Oneofs().ByName("body")
)

// bodyField is the body case of typ (nil when typ has none).
func bodyField(typ raftpb.Type) protoreflect.FieldDescriptor {
	fd := commandFields.ByNumber(protoreflect.FieldNumber(bodyFieldBase + int32(typ)))
	if fd == nil || fd.ContainingOneof() != commandBodies {
		return nil
	}
	return fd
}

// NewCommand makes a command of type typ with m as its body. It fails when m is not the
// message of typ.
func NewCommand(typ raftpb.Type, m proto.Message) (*raftpb.Command, error) {
	fd := bodyField(typ)
	if fd == nil {
		return nil, fmt.Errorf("command type %v has no body", typ)
	}
	if m == nil || !m.ProtoReflect().IsValid() {
		return nil, fmt.Errorf("command type %v: no message", typ)
	}
	mr := m.ProtoReflect()
	if got, want := mr.Descriptor().FullName(), fd.Message().FullName(); got != want {
		return nil, fmt.Errorf("command type %v carries %s, not %s", typ, want, got)
	}
	c := &raftpb.Command{}
	c.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(mr))
	return c, nil
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
