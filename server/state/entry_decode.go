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
	pulls []*raftpb.QueuePull
	idss  []*raftpb.QueueIds
	ids   []uint64 // the entry's QueueIds.ids, one after the other
	// nenqs, nitems, ndurs, npulls and nidss count the scratch messages the entry took so
	// far.
	nenqs, nitems, ndurs, npulls, nidss int
	// queue is the queue name of the last enqueue decoded: consecutive enqueues to one
	// queue share its string.
	queue string
}

// decodedCommand is one command of an entry: enq, pull or ids (of type typ: commit, delete
// or extend), read by the fast path, or cmd.
type decodedCommand struct {
	enq  *raftpb.QueueEnqueue
	pull *raftpb.QueuePull
	ids  *raftpb.QueueIds
	typ  raftpb.Type
	cmd  *raftpb.Command
}

// apply applies c with the handler dispatch gives the command it was read from.
func (c decodedCommand) apply(s *State, now int64) Result {
	switch {
	case c.enq != nil:
		return s.enqueue(now, c.enq)
	case c.pull != nil:
		return s.pull(now, c.pull)
	case c.ids != nil && c.typ == raftpb.Type_TYPE_QUEUE_COMMIT:
		return s.commit(now, c.ids)
	case c.ids != nil && c.typ == raftpb.Type_TYPE_QUEUE_DELETE:
		return s.deleteItems(now, c.ids)
	case c.ids != nil:
		return s.extend(now, c.ids)
	}
	return s.dispatch(now, c.cmd)
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
	return s.apply(t, len(d.cmds), func(i int, now int64) Result { return d.cmds[i].apply(s, now) }), nil
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
	for _, m := range d.idss[:d.nidss] {
		m.Ids, m.Lease = nil, nil
	}
	d.ids = d.ids[:0]
	d.nenqs, d.nitems, d.ndurs, d.npulls, d.nidss = 0, 0, 0, 0, 0
}

// Field numbers read by the fast path (see api/io/clbs/octopusmq/raft/v1/command.proto
// and api/protobuf/messages.proto).
const (
	fieldEntryTime     protowire.Number = 1
	fieldEntryCommands protowire.Number = 2
	fieldEnqueueBody                    = protowire.Number(bodyFieldBase + raftpb.Type_TYPE_QUEUE_ENQUEUE)
	fieldPullBody                       = protowire.Number(bodyFieldBase + raftpb.Type_TYPE_QUEUE_PULL)
	fieldCommitBody                     = protowire.Number(bodyFieldBase + raftpb.Type_TYPE_QUEUE_COMMIT)
	fieldDeleteBody                     = protowire.Number(bodyFieldBase + raftpb.Type_TYPE_QUEUE_DELETE)
	fieldExtendBody                     = protowire.Number(bodyFieldBase + raftpb.Type_TYPE_QUEUE_EXTEND)
	fieldQueueName     protowire.Number = 1 // QueueEnqueue, QueuePull, QueueIds
	fieldPullSession   protowire.Number = 2
	fieldPullMax       protowire.Number = 3
	fieldPullMaxBytes  protowire.Number = 4
	fieldIdsIds        protowire.Number = 2
	fieldIdsLease      protowire.Number = 3
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

// fields walks the fields of a message (b): each next reads one, its number and wire type
// and its value (v of a varint, p of bytes); bad is set when the walk stopped at a field of
// another wire type or one that does not parse (the fast path then leaves the entry to
// proto.Unmarshal).
type fields struct {
	b   []byte
	num protowire.Number
	typ protowire.Type
	v   uint64
	p   []byte
	bad bool
}

// next reads the next field; false at the end of b or at a field it refuses (bad).
func (w *fields) next() bool {
	if len(w.b) == 0 {
		return false
	}
	num, typ, n := protowire.ConsumeTag(w.b)
	if n < 0 {
		w.bad = true
		return false
	}
	w.num, w.typ = num, typ
	b := w.b[n:]
	switch typ {
	case protowire.VarintType:
		w.v, n = protowire.ConsumeVarint(b)
	case protowire.BytesType:
		w.p, n = protowire.ConsumeBytes(b)
	default:
		n = -1
	}
	if n < 0 {
		w.bad = true
		return false
	}
	w.b = b[n:]
	return true
}

// is reports whether the field read last is field num of wire type typ.
func (w *fields) is(num protowire.Number, typ protowire.Type) bool {
	return w.num == num && w.typ == typ
}

// decode reads data into d.cmds and returns the entry's time; false: the fast path does
// not take this entry (d.cmds is then meaningless).
func (d *EntryDecoder) decode(data []byte) (int64, bool) {
	var t int64
	f := fields{b: data}
	for f.next() {
		switch {
		case f.is(fieldEntryTime, protowire.VarintType):
			t = int64(f.v) // a scalar written twice: the last one counts, as in proto.Unmarshal
		case f.is(fieldEntryCommands, protowire.BytesType):
			if !d.command(f.p) {
				return 0, false
			}
		default:
			return 0, false
		}
	}
	return t, !f.bad
}

// command decodes one command: an enqueue, pull, commit, delete or extend body alone by
// the fast path, anything else with proto.Unmarshal.
func (d *EntryDecoder) command(b []byte) bool {
	if f := (fields{b: b}); f.next() && len(f.b) == 0 && f.typ == protowire.BytesType {
		switch f.num {
		case fieldEnqueueBody:
			return d.enqueue(f.p)
		case fieldPullBody:
			return d.pull(f.p)
		case fieldCommitBody:
			return d.queueIds(raftpb.Type_TYPE_QUEUE_COMMIT, f.p)
		case fieldDeleteBody:
			return d.queueIds(raftpb.Type_TYPE_QUEUE_DELETE, f.p)
		case fieldExtendBody:
			return d.queueIds(raftpb.Type_TYPE_QUEUE_EXTEND, f.p)
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
	m := scratch(&d.enqs, &d.nenqs)
	m.Queue, m.Items = "", nil
	first := d.nitems
	f := fields{b: b}
	for f.next() {
		switch {
		case f.is(fieldEnqueueQueue, protowire.BytesType):
			if !d.queueName(&m.Queue, f.p) {
				return false
			}
		case f.is(fieldEnqueueItems, protowire.BytesType):
			if !d.inputItem(scratch(&d.items, &d.nitems), f.p) {
				return false
			}
			m.Items = d.items[first:d.nitems:d.nitems]
		default:
			return false
		}
	}
	if f.bad {
		return false
	}
	d.cmds = append(d.cmds, decodedCommand{enq: m})
	return true
}

// queueName sets *name to the string b, as proto.Unmarshal sets a proto3 string field
// (it refuses one that is not UTF-8).
func (d *EntryDecoder) queueName(name *string, b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	if string(b) != d.queue {
		d.queue = string(b)
	}
	*name = d.queue
	return true
}

// pull decodes a QueuePull.
func (d *EntryDecoder) pull(b []byte) bool {
	m := scratch(&d.pulls, &d.npulls)
	m.Queue, m.Session, m.Max, m.MaxBytes = "", 0, 0, 0
	f := fields{b: b}
	for f.next() {
		switch {
		case f.is(fieldQueueName, protowire.BytesType):
			if !d.queueName(&m.Queue, f.p) {
				return false
			}
		case f.is(fieldPullSession, protowire.VarintType):
			m.Session = f.v
		case f.is(fieldPullMax, protowire.VarintType):
			m.Max = uint32(f.v)
		case f.is(fieldPullMaxBytes, protowire.VarintType):
			m.MaxBytes = f.v
		default:
			return false
		}
	}
	if f.bad {
		return false
	}
	d.cmds = append(d.cmds, decodedCommand{pull: m})
	return true
}

// queueIds decodes the QueueIds of a command of type typ. Ids come packed (proto3's
// encoding) or one by one (also accepted by proto.Unmarshal), appended in order.
func (d *EntryDecoder) queueIds(typ raftpb.Type, b []byte) bool {
	m := scratch(&d.idss, &d.nidss)
	m.Queue, m.Ids, m.Lease = "", nil, nil
	first := len(d.ids)
	f := fields{b: b}
	for f.next() {
		switch {
		case f.is(fieldQueueName, protowire.BytesType):
			if !d.queueName(&m.Queue, f.p) {
				return false
			}
		case f.is(fieldIdsIds, protowire.VarintType):
			d.ids = append(d.ids, f.v)
		case f.is(fieldIdsIds, protowire.BytesType):
			for p := f.p; len(p) > 0; {
				v, n := protowire.ConsumeVarint(p)
				if n < 0 {
					return false
				}
				d.ids = append(d.ids, v)
				p = p[n:]
			}
		case f.is(fieldIdsLease, protowire.BytesType):
			if !d.duration(&m.Lease, f.p) {
				return false
			}
		default:
			return false
		}
	}
	if f.bad {
		return false
	}
	if len(d.ids) > first {
		m.Ids = d.ids[first:len(d.ids):len(d.ids)]
	}
	d.cmds = append(d.cmds, decodedCommand{ids: m, typ: typ})
	return true
}

// scratch returns the next message of pool, of which *n are taken (made on first use; its
// fields are the caller's to set).
func scratch[T any](pool *[]*T, n *int) *T {
	if *n == len(*pool) {
		*pool = append(*pool, new(T))
	}
	*n++
	return (*pool)[*n-1]
}

// inputItem decodes b into it, every field set as proto.Unmarshal sets it on a new item.
func (d *EntryDecoder) inputItem(it *pb.InputItem, b []byte) bool {
	it.Ttl, it.Priority, it.Key, it.UniqueKey, it.Value, it.Delay, it.Compress = nil, 0, nil, nil, nil, nil, false
	f := fields{b: b}
	for f.next() {
		switch {
		case f.is(fieldItemPriority, protowire.VarintType):
			it.Priority = uint32(f.v)
		case f.is(fieldItemCompress, protowire.VarintType):
			it.Compress = protowire.DecodeBool(f.v)
		case f.is(fieldItemKey, protowire.BytesType):
			it.Key = f.p // non-nil even when empty, as proto.Unmarshal sets it
		case f.is(fieldItemUniqueKey, protowire.BytesType):
			it.UniqueKey = f.p
		case f.is(fieldItemValue, protowire.BytesType):
			it.Value = make([]byte, len(f.p)) // the item's own: see EntryDecoder
			copy(it.Value, f.p)
		case f.is(fieldItemTTL, protowire.BytesType):
			if !d.duration(&it.Ttl, f.p) {
				return false
			}
		case f.is(fieldItemDelay, protowire.BytesType):
			if !d.duration(&it.Delay, f.p) {
				return false
			}
		default:
			return false
		}
	}
	return !f.bad
}

// duration merges the encoded Duration b into *x, a scratch Duration set to zero first
// when *x is nil (a message field written again merges into what the first one set, as in
// proto.Unmarshal).
func (d *EntryDecoder) duration(x **durationpb.Duration, b []byte) bool {
	if *x == nil {
		*x = scratch(&d.durs, &d.ndurs)
		(*x).Seconds, (*x).Nanos = 0, 0
	}
	return decodeDuration(*x, b)
}

// decodeDuration merges the encoded Duration b into x.
func decodeDuration(x *durationpb.Duration, b []byte) bool {
	f := fields{b: b}
	for f.next() {
		switch {
		case f.is(fieldDurSeconds, protowire.VarintType):
			x.Seconds = int64(f.v)
		case f.is(fieldDurNanos, protowire.VarintType):
			x.Nanos = int32(f.v)
		default:
			return false
		}
	}
	return !f.bad
}
