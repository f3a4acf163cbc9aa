package raftnode

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state"
)

// Field numbers of raftpb.Entry, which encodeEntry writes directly.
const (
	entryTimeField     protowire.Number = 1
	entryCommandsField protowire.Number = 2
)

// entryTime is the time of an encoded raftpb.Entry (0: none, or not an entry encodeEntry
// wrote: the time is its first field when set).
func entryTime(b []byte) int64 {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != entryTimeField || typ != protowire.VarintType {
		return 0
	}
	v, m := protowire.ConsumeVarint(b[n:])
	if m < 0 {
		return 0
	}
	return int64(v)
}

// encodeCommand encodes one command, its message as the command's body: the only time the
// message is encoded on its way into the log.
func encodeCommand(typ raftpb.Type, payload proto.Message) ([]byte, error) {
	return state.EncodeCommand(typ, payload)
}

// encodeEntry returns the raftpb.Entry of time t and the batch's commands (size bytes
// together). A repeated message field is each element's bytes behind a tag and a length,
// so the already encoded commands are copied, not encoded again.
func encodeEntry(t int64, batch []*proposal, size int) []byte {
	b := make([]byte, 0, 1+protowire.SizeVarint(uint64(t))+size+len(batch)*(1+protowire.SizeVarint(uint64(size))))
	if t != 0 {
		b = protowire.AppendTag(b, entryTimeField, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(t))
	}
	for _, pr := range batch {
		b = protowire.AppendTag(b, entryCommandsField, protowire.BytesType)
		b = protowire.AppendBytes(b, pr.cmd)
	}
	return b
}
