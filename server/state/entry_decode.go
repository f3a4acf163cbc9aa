package state

import (
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// EntryDecoder applies encoded raftpb.Entry bytes (a Raft log entry's data) without
// decoding every command into a message of its own: enqueue commands, the bulk of a busy
// log, are read straight from the wire into scratch messages the decoder reuses from entry
// to entry, each field set as proto.Unmarshal sets it (the last of a scalar or bytes field
// written twice, a Duration written twice merged). Any other command (another type, an
// old envelope, a body written twice or beside other fields) is decoded on its own with
// proto.Unmarshal, as the entry's decode would, and applied as before. Whatever the fast
// reader does not take as it is (an unknown field, a wire type other than the schema's, a
// string that is not UTF-8, bytes that do not parse) sends the whole entry through
// proto.Unmarshal and State.Apply. So the state gets the same messages for the same bytes
// on every node, whichever path a node took (TestEntryDecoderMatchesUnmarshal and
// FuzzEntryDecoder compare results and snapshot bytes with the old path).
//
// The scratch messages are the decoder's: an EntryDecoder serves one goroutine at a time
// (the FSM's). Values get an allocation of their own of exactly their length (items keep
// them, and must not keep the entry alive: DESIGN "Compact items"); keys and unique keys
// are read in place, since the queue copies them into strings.
type EntryDecoder struct {
	cmds  []decodedCommand
	enqs  []*raftpb.QueueEnqueue
	items []*pb.InputItem
	durs  []*durationpb.Duration
	// nenqs, nitems and ndurs count the scratch messages the entry took so far.
	nenqs, nitems, ndurs int
	// queue is the queue name of the last enqueue decoded: consecutive enqueues to one
	// queue share its string.
	queue string
}

// decodedCommand is one command of an entry: enq, read by the fast path, or cmd.
type decodedCommand struct {
	enq *raftpb.QueueEnqueue
	cmd *raftpb.Command
}

// Apply applies the encoded entry data to s, as proto.Unmarshal into a raftpb.Entry and
// s.Apply would; the error is proto.Unmarshal's when data is not an entry (s unchanged).
func (d *EntryDecoder) Apply(s *State, data []byte) ([]Result, error) {
	t, ok := d.decode(data)
	defer d.release()
	if !ok {
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(data, e); err != nil {
			return nil, err
		}
		return s.Apply(e), nil
	}
	return s.apply(t, len(d.cmds), func(i int, now int64) Result {
		if c := d.cmds[i]; c.enq != nil {
			return s.enqueue(now, c.enq)
		}
		return s.dispatch(now, d.cmds[i].cmd)
	}), nil
}

// release drops what the scratch messages point at (the entry's bytes, the values the
// queue now owns), so they live only as long as the state needs them.
func (d *EntryDecoder) release() {
	for _, m := range d.enqs[:d.nenqs] {
		m.Items = nil
	}
	clear(d.cmds) // the generic commands
	d.cmds = d.cmds[:0]
	for _, it := range d.items[:d.nitems] {
		it.Key, it.UniqueKey, it.Value = nil, nil, nil
	}
	d.nenqs, d.nitems, d.ndurs = 0, 0, 0
}

// Field numbers read by the fast path (see api/io/clbs/octopusmq/raft/v1/command.proto
// and api/protobuf/messages.proto).
const (
	fieldEntryTime     protowire.Number = 1
	fieldEntryCommands protowire.Number = 2
	fieldEnqueueBody                    = protowire.Number(bodyFieldBase + raftpb.Type_TYPE_QUEUE_ENQUEUE)
	fieldEnqueueQueue  protowire.Number = 1
	fieldEnqueueItems  protowire.Number = 2
	fieldItemTTL       protowire.Number = 1
	fieldItemPriority  protowire.Number = 2
	fieldItemKey       protowire.Number = 3
	fieldItemUniqueKey protowire.Number = 4
	fieldItemValue     protowire.Number = 5
	fieldItemDelay     protowire.Number = 6
	fieldItemCompress  protowire.Number = 7
	fieldDurSeconds    protowire.Number = 1
	fieldDurNanos      protowire.Number = 2
)

// decode reads data into d.cmds and returns the entry's time; false: the fast path does
// not take this entry (d.cmds is then meaningless).
func (d *EntryDecoder) decode(data []byte) (int64, bool) {
	var t int64
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return 0, false
		}
		data = data[n:]
		switch {
		case num == fieldEntryTime && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return 0, false
			}
			t = int64(v) // a repeated scalar: the last one counts, as in proto.Unmarshal
			data = data[n:]
		case num == fieldEntryCommands && typ == protowire.BytesType:
			b, n := protowire.ConsumeBytes(data)
			if n < 0 || !d.command(b) {
				return 0, false
			}
			data = data[n:]
		default:
			return 0, false
		}
	}
	return t, true
}

// command decodes one command: an enqueue body alone by the fast path, anything else
// with proto.Unmarshal.
func (d *EntryDecoder) command(b []byte) bool {
	if num, typ, n := protowire.ConsumeTag(b); n > 0 && num == fieldEnqueueBody && typ == protowire.BytesType {
		if body, m := protowire.ConsumeBytes(b[n:]); m >= 0 && n+m == len(b) {
			return d.enqueue(body)
		}
	}
	c := &raftpb.Command{}
	if err := proto.Unmarshal(b, c); err != nil {
		return false
	}
	d.cmds = append(d.cmds, decodedCommand{cmd: c})
	return true
}

// enqueue decodes a QueueEnqueue.
func (d *EntryDecoder) enqueue(b []byte) bool {
	if d.nenqs == len(d.enqs) {
		d.enqs = append(d.enqs, &raftpb.QueueEnqueue{})
	}
	m := d.enqs[d.nenqs]
	d.nenqs++
	m.Queue, m.Items = "", nil
	first := d.nitems
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType {
			return false
		}
		v, m2 := protowire.ConsumeBytes(b[n:])
		if m2 < 0 {
			return false
		}
		b = b[n+m2:]
		switch num {
		case fieldEnqueueQueue:
			if !utf8.Valid(v) { // proto.Unmarshal refuses an invalid proto3 string
				return false
			}
			if string(v) != d.queue {
				d.queue = string(v)
			}
			m.Queue = d.queue
		case fieldEnqueueItems:
			if !d.inputItem(d.item(), v) {
				return false
			}
			m.Items = d.items[first:d.nitems:d.nitems]
		default:
			return false
		}
	}
	d.cmds = append(d.cmds, decodedCommand{enq: m})
	return true
}

// item returns the next scratch item (its fields are the caller's to set).
func (d *EntryDecoder) item() *pb.InputItem {
	if d.nitems == len(d.items) {
		d.items = append(d.items, &pb.InputItem{})
	}
	d.nitems++
	return d.items[d.nitems-1]
}

// inputItem decodes b into it, every field set as proto.Unmarshal sets it on a new item.
func (d *EntryDecoder) inputItem(it *pb.InputItem, b []byte) bool {
	it.Ttl, it.Priority, it.Key, it.UniqueKey, it.Value, it.Delay, it.Compress = nil, 0, nil, nil, nil, nil, false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch num {
		case fieldItemPriority, fieldItemCompress:
			if typ != protowire.VarintType {
				return false
			}
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			if num == fieldItemPriority {
				it.Priority = uint32(v)
			} else {
				it.Compress = protowire.DecodeBool(v)
			}
		case fieldItemTTL, fieldItemKey, fieldItemUniqueKey, fieldItemValue, fieldItemDelay:
			if typ != protowire.BytesType {
				return false
			}
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			switch num {
			case fieldItemKey:
				it.Key = nonNil(v)
			case fieldItemUniqueKey:
				it.UniqueKey = nonNil(v)
			case fieldItemValue:
				it.Value = make([]byte, len(v)) // the item's own: see EntryDecoder
				copy(it.Value, v)
			case fieldItemTTL:
				if it.Ttl == nil { // a message field seen again merges into the first
					it.Ttl = d.duration()
				}
				if !decodeDuration(it.Ttl, v) {
					return false
				}
			case fieldItemDelay:
				if it.Delay == nil {
					it.Delay = d.duration()
				}
				if !decodeDuration(it.Delay, v) {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

// nonNil is b, or an empty non-nil slice for an empty b (proto.Unmarshal's form of a
// present but empty bytes field).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// duration returns the next scratch Duration, zeroed.
func (d *EntryDecoder) duration() *durationpb.Duration {
	if d.ndurs == len(d.durs) {
		d.durs = append(d.durs, &durationpb.Duration{})
	}
	x := d.durs[d.ndurs]
	d.ndurs++
	x.Seconds, x.Nanos = 0, 0
	return x
}

// decodeDuration merges the encoded Duration b into x.
func decodeDuration(x *durationpb.Duration, b []byte) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.VarintType || (num != fieldDurSeconds && num != fieldDurNanos) {
			return false
		}
		v, m := protowire.ConsumeVarint(b[n:])
		if m < 0 {
			return false
		}
		b = b[n+m:]
		if num == fieldDurSeconds {
			x.Seconds = int64(v)
		} else {
			x.Nanos = int32(v)
		}
	}
	return true
}
