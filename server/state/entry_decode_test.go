package state

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// unmarshalApply is the path EntryDecoder stands in for: proto.Unmarshal, then Apply.
func unmarshalApply(s *State, data []byte) ([]Result, error) {
	e := &raftpb.Entry{}
	if err := proto.Unmarshal(data, e); err != nil {
		return nil, err
	}
	return s.Apply(e), nil
}

// sameOutcome fails t unless both paths answered data alike and (when snapshots) left s1
// and s2 with the same snapshot bytes; it returns the results.
func sameOutcome(t testing.TB, what string, s1, s2 *State, d *EntryDecoder, data []byte, snapshots bool) []Result {
	t.Helper()
	r1, err1 := unmarshalApply(s1, data)
	r2, err2 := d.Apply(s2, data)
	if fmt.Sprint(err1) != fmt.Sprint(err2) {
		t.Fatalf("%s: errors differ: unmarshal %v, decoder %v", what, err1, err2)
	}
	if !reflect.DeepEqual(r1, r2) {
		t.Fatalf("%s: results differ:\nunmarshal %s\ndecoder   %s", what, describe(r1), describe(r2))
	}
	if !snapshots {
		return r1
	}
	b1, e1 := s1.Snapshot(7)
	b2, e2 := s2.Snapshot(7)
	if e1 != nil || e2 != nil {
		t.Fatalf("%s: snapshots: %v, %v", what, e1, e2)
	}
	if !bytes.Equal(b1, b2) {
		t.Fatalf("%s: the two paths left different states (snapshots of %d and %d bytes)", what, len(b1), len(b2))
	}
	return r1
}

func describe(rs []Result) string {
	var b bytes.Buffer
	for _, r := range rs {
		fmt.Fprintf(&b, "[%+v %v] ", r.Value, r.Err)
	}
	return b.String()
}

// wire builds entries byte by byte, so tests can write what proto.Marshal never does
// (fields twice, unknown fields, other wire types, old envelopes, truncations).
type wire []byte

func (w wire) varint(num protowire.Number, v uint64) wire {
	return protowire.AppendVarint(protowire.AppendTag(w, num, protowire.VarintType), v)
}

func (w wire) bytes(num protowire.Number, b []byte) wire {
	return protowire.AppendBytes(protowire.AppendTag(w, num, protowire.BytesType), b)
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gen makes random entries for a state made by populate plus queue "q" (4 priorities,
// max_size 400), mostly enqueues in every form the wire allows, and a mix of the rest.
type gen struct {
	t      testing.TB
	r      *rand.Rand
	pulled *[]uint64 // ids are picked among these, items pulled (nil: among the first 70)
}

func (g gen) dur() []byte {
	var w wire
	switch g.r.IntN(6) {
	case 0:
		return nil
	case 1: // negative: the state refuses it
		return marshal(g.t, durationpb.New(-time.Second))
	case 2: // nanos out of range: invalid
		return w.varint(fieldDurSeconds, 1).varint(fieldDurNanos, 2_000_000_000)
	case 3: // negative nanos as a 10-byte varint, seconds twice (the last counts)
		return w.varint(fieldDurSeconds, 5).varint(fieldDurSeconds, 0).varint(fieldDurNanos, uint64(0xffffffffffffffff))
	case 4: // empty message
		return []byte{}
	default:
		return marshal(g.t, durationpb.New(time.Duration(g.r.IntN(5000))*time.Millisecond))
	}
}

// item is one encoded InputItem; odd says whether it holds something the fast path leaves
// to proto.Unmarshal.
func (g gen) item() wire {
	var w wire
	if g.r.IntN(3) == 0 {
		if d := g.dur(); d != nil {
			w = w.bytes(fieldItemTTL, d)
		}
	}
	switch p := g.r.IntN(8); {
	case p == 0: // zero, written anyway
		w = w.varint(fieldItemPriority, 0)
	case p < 6:
		w = w.varint(fieldItemPriority, uint64(g.r.IntN(5))) // 4 is out of range
	case p == 6: // wider than uint32: proto.Unmarshal truncates
		w = w.varint(fieldItemPriority, 1<<32|2)
	}
	if g.r.IntN(3) == 0 {
		w = w.bytes(fieldItemKey, []byte(fmt.Sprint("g", g.r.IntN(3))))
	}
	if g.r.IntN(4) == 0 {
		w = w.bytes(fieldItemUniqueKey, []byte(fmt.Sprint("u", g.r.IntN(6))))
	}
	if g.r.IntN(12) == 0 {
		w = w.bytes(fieldItemUniqueKey, []byte{}) // present but empty: no unique key
	}
	switch v := g.r.IntN(100); {
	case v == 0: // absent
	case v == 1:
		w = w.bytes(fieldItemValue, []byte{})
	case v == 2:
		w = w.bytes(fieldItemValue, bytes.Repeat([]byte{0xab}, 1<<20))
	default:
		b := make([]byte, g.r.IntN(300))
		for i := range b {
			b[i] = byte(g.r.IntN(256))
		}
		w = w.bytes(fieldItemValue, b)
	}
	if g.r.IntN(4) == 0 {
		if d := g.dur(); d != nil {
			w = w.bytes(fieldItemDelay, d)
		}
	}
	if g.r.IntN(4) == 0 {
		w = w.varint(fieldItemCompress, uint64(g.r.IntN(3)))
	}
	switch g.r.IntN(30) {
	case 0: // a value twice: the last counts
		w = w.bytes(fieldItemValue, []byte("again"))
	case 1: // a ttl twice: merged
		w = w.bytes(fieldItemTTL, wire(nil).varint(fieldDurNanos, 7))
	case 2: // unknown field
		w = w.varint(99, 1)
	case 3: // a known field of another wire type: proto.Unmarshal keeps it as unknown
		w = w.bytes(fieldItemPriority, []byte{1})
	}
	return w
}

func (g gen) enqueueBody() wire {
	var w wire
	queue := []string{"q", "q", "q", "jobs", "missing"}[g.r.IntN(5)]
	if g.r.IntN(40) == 0 {
		queue = "\xff" // not UTF-8: proto.Unmarshal fails the entry
	}
	n := g.r.IntN(4)
	if g.r.IntN(2) == 0 {
		n = 1
	}
	if g.r.IntN(3) > 0 {
		w = w.bytes(fieldEnqueueQueue, []byte(queue))
	}
	for range n {
		w = w.bytes(fieldEnqueueItems, g.item())
	}
	if g.r.IntN(25) == 0 {
		w = w.bytes(fieldEnqueueQueue, []byte("q")) // queue after its items, or twice
	}
	if g.r.IntN(40) == 0 {
		w = w.varint(77, 3)
	}
	return w
}

func (g gen) queueName(w wire) wire {
	switch g.r.IntN(12) {
	case 0:
		return w // absent
	case 1:
		return w.bytes(fieldQueueName, []byte("missing"))
	case 2:
		return w.bytes(fieldQueueName, []byte("jobs"))
	case 3:
		if g.r.IntN(4) == 0 {
			return w.bytes(fieldQueueName, []byte("q\xff"))
		}
	}
	return w.bytes(fieldQueueName, []byte("q"))
}

// odd adds, now and then, what the fast path leaves to proto.Unmarshal or must read as it
// does: an unknown field, a known one of another wire type, the queue twice.
func (g gen) odd(w wire, scalar protowire.Number) wire {
	switch g.r.IntN(40) {
	case 0:
		return w.varint(50, 1)
	case 1:
		return w.bytes(scalar, []byte{1})
	case 2:
		return w.bytes(fieldQueueName, []byte("q"))
	}
	return w
}

func (g gen) pullBody() wire {
	w := g.queueName(nil)
	if g.r.IntN(2) == 0 {
		w = w.varint(fieldPullSession, uint64(g.r.IntN(3)))
	}
	switch g.r.IntN(6) {
	case 0:
	case 1:
		w = w.varint(fieldPullMax, 1<<32|2) // wider than uint32: truncated
	default:
		w = w.varint(fieldPullMax, uint64(g.r.IntN(5)))
	}
	if g.r.IntN(3) == 0 {
		w = w.varint(fieldPullMaxBytes, uint64(g.r.IntN(600)))
	}
	return g.odd(w, fieldPullMax)
}

func (g gen) idsBody() wire {
	w := g.queueName(nil)
	id := func() uint64 {
		if g.pulled == nil || len(*g.pulled) == 0 || g.r.IntN(5) == 0 {
			return uint64(g.r.IntN(70))
		}
		return (*g.pulled)[g.r.IntN(len(*g.pulled))]
	}
	for range g.r.IntN(3) {
		if g.r.IntN(2) == 0 { // packed, as proto.Marshal writes them
			var p []byte
			for range g.r.IntN(4) {
				p = protowire.AppendVarint(p, id())
			}
			if g.r.IntN(40) == 0 {
				p = append(p, 0x80) // a varint cut short
			}
			w = w.bytes(fieldIdsIds, p)
		} else {
			w = w.varint(fieldIdsIds, id())
		}
	}
	if g.r.IntN(3) == 0 {
		if d := g.dur(); d != nil {
			w = w.bytes(fieldIdsLease, d)
		}
	}
	return g.odd(w, fieldIdsLease)
}

func (g gen) command() []byte {
	t := g.t
	var w wire
	switch k := g.r.IntN(20); {
	case k < 12:
		w = w.bytes(fieldEnqueueBody, g.enqueueBody())
		switch g.r.IntN(30) {
		case 0: // the body twice: merged (items appended)
			w = w.bytes(fieldEnqueueBody, g.enqueueBody())
		case 1: // an old envelope's type beside the body: the body counts
			w = w.varint(1, uint64(raftpb.Type_TYPE_QUEUE_PULL))
		case 2:
			w = w.varint(999, 1)
		}
		return w
	case k == 12: // old envelope
		return marshal(t, oldCmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: []*pb.InputItem{{Value: []byte("old")}}}))
	case k == 13:
		return w.bytes(fieldPullBody, g.pullBody())
	case k == 14:
		w = w.bytes([]protowire.Number{fieldCommitBody, fieldCommitBody, fieldDeleteBody, fieldExtendBody}[g.r.IntN(4)], g.idsBody())
		if g.r.IntN(30) == 0 {
			w = w.bytes(fieldCommitBody, g.idsBody()) // twice: merged
		}
		return w
	case k == 15:
		return marshal(t, cmd(t, raftpb.Type_TYPE_QUEUE_PURGE, &raftpb.QueuePurge{Queue: "q"}))
	case k == 16:
		return marshal(t, cmd(t, raftpb.Type_TYPE_CLOSE_SESSION, &raftpb.CloseSession{Session: uint64(g.r.IntN(3))}))
	case k == 17:
		return marshal(t, cmd(t, raftpb.Type_TYPE_STORAGE_SET, &raftpb.StorageSet{Storage: "kv", Request: &pb.StorageSetRequest{Key: []byte{byte(g.r.IntN(4))}, Value: []byte("v")}}))
	case k == 18: // a newer server's body
		return w.bytes(bodyFieldBase+500, nil)
	default:
		return marshal(t, cmd(t, raftpb.Type_TYPE_TICK, &raftpb.Tick{}))
	}
}

func (g gen) entry(sec int64) []byte {
	var w wire
	timeFirst := g.r.IntN(4) > 0
	if timeFirst {
		w = w.varint(fieldEntryTime, uint64(sec*1e9))
	}
	for range g.r.IntN(12) {
		w = w.bytes(fieldEntryCommands, g.command())
	}
	if !timeFirst && g.r.IntN(2) == 0 {
		w = w.varint(fieldEntryTime, uint64(sec*1e9))
	}
	switch g.r.IntN(40) {
	case 0:
		w = w.varint(5, 1) // unknown entry field
	case 1:
		if len(w) > 0 {
			w = w[:g.r.IntN(len(w))] // truncated: corrupt
		}
	case 2:
		w = w.varint(fieldEntryTime, uint64(sec*1e9)).varint(fieldEntryTime, 0) // time twice
	}
	return w
}

// A property test: random entries of every kind, applied through proto.Unmarshal + Apply
// and through EntryDecoder, give the same results and the same snapshot bytes, entry after
// entry (seeds fixed, so a failure repeats).
func TestEntryDecoderMatchesUnmarshal(t *testing.T) {
	entries := 400
	if testing.Short() {
		entries = 100
	}
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			queue := cmd(t, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q", Priorities: 4, MaxSize: 400})
			s1, s2 := populate(t), populate(t)
			var pulled []uint64
			g := gen{t: t, r: rand.New(rand.NewPCG(seed, 42)), pulled: &pulled}
			mustOK(t, apply(t, s1, 102, queue))
			mustOK(t, apply(t, s2, 102, queue))
			var d EntryDecoder
			fast, enqueued, pulls, idss := 0, 0, 0, 0
			for i := range entries {
				data := g.entry(103 + int64(i)/10)
				if _, ok := d.decode(data); ok {
					fast++
					enqueued, pulls, idss = enqueued+d.nitems, pulls+d.npulls, idss+d.nidss
				}
				d.release()
				for _, r := range sameOutcome(t, fmt.Sprint("entry ", i), s1, s2, &d, data, i%25 == 0 || i == entries-1) {
					if p, ok := r.Value.(*PullResult); ok {
						for _, it := range p.Items {
							pulled = append(pulled, it.Item.GetId())
						}
					}
				}
			}
			st, _ := s1.QueueStats("q")
			c := st.Counters
			// Most entries must take the fast path, every kind of command, and the commands
			// must do something (pull items, commit some), or this tests little.
			report := fmt.Sprintf("the fast path took %d entries of %d (%d items, %d pulls, %d commits, deletes and extends); %d items enqueued, %d pulled, %d committed",
				fast, entries, enqueued, pulls, idss, c.Enqueued, len(pulled), c.Committed)
			if fast < entries/2 || enqueued < entries || pulls < entries/20 || idss < entries/20 || len(pulled) < entries/10 || c.Committed == 0 {
				t.Fatal(report)
			}
			t.Log(report)
		})
	}
}

// The cases the property test reaches by chance, each on its own.
func TestEntryDecoderEdgeCases(t *testing.T) {
	t.Parallel()
	item := func(w wire) wire { return wire(nil).bytes(fieldEnqueueQueue, []byte("q")).bytes(fieldEnqueueItems, w) }
	enq := func(body wire) []byte { return wire(nil).bytes(fieldEnqueueBody, body) }
	entry := func(cmds ...[]byte) []byte {
		w := wire(nil).varint(fieldEntryTime, 200e9)
		for _, c := range cmds {
			w = w.bytes(fieldEntryCommands, c)
		}
		return w
	}
	value := wire(nil).bytes(fieldItemValue, []byte("v"))
	// the visible items of "jobs" (ids 1-4, one delayed), leased to session 3
	pullJobs := wire(nil).bytes(fieldPullBody, wire(nil).bytes(fieldQueueName, []byte("jobs")).varint(fieldPullSession, 3).varint(fieldPullMax, 4))
	cases := map[string][]byte{
		"empty entry":                  nil,
		"no commands":                  entry(),
		"plain":                        entry(enq(item(value))),
		"empty value":                  entry(enq(item(wire(nil).bytes(fieldItemValue, nil)))),
		"no value, no fields":          entry(enq(item(nil))),
		"no items":                     entry(enq(wire(nil).bytes(fieldEnqueueQueue, []byte("q")))),
		"no queue":                     entry(enq(wire(nil).bytes(fieldEnqueueItems, value))),
		"zero priority written":        entry(enq(item(value.varint(fieldItemPriority, 0)))),
		"priority out of range":        entry(enq(item(value.varint(fieldItemPriority, 4)))),
		"priority past uint32":         entry(enq(item(value.varint(fieldItemPriority, 1<<32|3)))),
		"max size value":               entry(enq(item(wire(nil).bytes(fieldItemValue, make([]byte, 4<<20))))),
		"negative ttl":                 entry(enq(item(value.bytes(fieldItemTTL, marshal(t, durationpb.New(-time.Second)))))),
		"empty ttl message":            entry(enq(item(value.bytes(fieldItemTTL, nil)))),
		"ttl twice (merged)":           entry(enq(item(value.bytes(fieldItemTTL, wire(nil).varint(fieldDurSeconds, 9)).bytes(fieldItemTTL, wire(nil).varint(fieldDurNanos, 5))))),
		"delay":                        entry(enq(item(value.bytes(fieldItemDelay, marshal(t, durationpb.New(time.Minute)))))),
		"unique key twice":             entry(enq(item(value.bytes(fieldItemUniqueKey, []byte("u")))), enq(item(value.bytes(fieldItemUniqueKey, []byte("u"))))),
		"unknown item field":           entry(enq(item(value.varint(42, 1)))),
		"unknown duration field":       entry(enq(item(value.bytes(fieldItemTTL, wire(nil).varint(3, 1))))),
		"priority as bytes":            entry(enq(item(value.bytes(fieldItemPriority, []byte{1})))),
		"unknown enqueue field":        entry(enq(item(value).varint(3, 1))),
		"unknown command field":        entry(wire(enq(item(value))).varint(3, 1)),
		"body twice":                   entry(wire(enq(item(value))).bytes(fieldEnqueueBody, item(value))),
		"unknown entry field":          wire(entry(enq(item(value)))).varint(9, 1),
		"time twice (the last counts)": wire(entry(enq(item(value)))).varint(fieldEntryTime, 900e9).varint(fieldEntryTime, 0),
		"time after commands":          wire(nil).bytes(fieldEntryCommands, enq(item(value))).varint(fieldEntryTime, 300e9),
		"invalid UTF-8 queue":          entry(enq(wire(nil).bytes(fieldEnqueueQueue, []byte{0xff}).bytes(fieldEnqueueItems, value))),
		"missing queue":                entry(enq(wire(nil).bytes(fieldEnqueueQueue, []byte("nope")).bytes(fieldEnqueueItems, value))),
		"truncated":                    entry(enq(item(value)))[:9],
		"old envelope":                 entry(marshal(t, oldCmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q"}))),
		"mixed with other command":     entry(enq(item(value)), marshal(t, cmd(t, raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueuePull{Queue: "q", Max: 2})), enq(item(value))),
		"corrupt other command":        entry(enq(item(value)), []byte{0x0a}),
		"pull":                         entry(enq(item(value)), wire(nil).bytes(fieldPullBody, wire(nil).bytes(fieldQueueName, []byte("q")).varint(fieldPullSession, 3).varint(fieldPullMax, 2).varint(fieldPullMaxBytes, 1))),
		"pull, max past uint32":        entry(enq(item(value)), wire(nil).bytes(fieldPullBody, wire(nil).bytes(fieldQueueName, []byte("q")).varint(fieldPullMax, 1<<32|1))),
		"commit packed and not":        entry(wire(nil).bytes(fieldCommitBody, wire(nil).bytes(fieldQueueName, []byte("jobs")).bytes(fieldIdsIds, []byte{1, 2}).varint(fieldIdsIds, 3))),
		"commit empty packed ids":      entry(wire(nil).bytes(fieldCommitBody, wire(nil).bytes(fieldQueueName, []byte("jobs")).bytes(fieldIdsIds, nil))),
		"commit cut varint":            entry(wire(nil).bytes(fieldCommitBody, wire(nil).bytes(fieldQueueName, []byte("jobs")).bytes(fieldIdsIds, []byte{0x80}))),
		"delete":                       entry(wire(nil).bytes(fieldDeleteBody, wire(nil).bytes(fieldQueueName, []byte("jobs")).varint(fieldIdsIds, 2).varint(fieldIdsIds, 4))),
		"extend with lease":            entry(pullJobs, wire(nil).bytes(fieldExtendBody, wire(nil).bytes(fieldQueueName, []byte("jobs")).bytes(fieldIdsIds, []byte{1, 2, 3, 4}).bytes(fieldIdsLease, marshal(t, durationpb.New(time.Hour))))),
		"extend, lease twice (merged)": entry(pullJobs, wire(nil).bytes(fieldExtendBody, wire(nil).bytes(fieldQueueName, []byte("jobs")).bytes(fieldIdsIds, []byte{1, 2, 3, 4}).bytes(fieldIdsLease, wire(nil).varint(fieldDurSeconds, 900)).bytes(fieldIdsLease, wire(nil).varint(fieldDurNanos, 5)))),
		"extend, lease unknown":        entry(wire(nil).bytes(fieldExtendBody, wire(nil).bytes(fieldQueueName, []byte("jobs")).varint(fieldIdsIds, 1).bytes(fieldIdsLease, wire(nil).varint(4, 1)))),
		"pull body, unknown field":     entry(wire(nil).bytes(fieldPullBody, wire(nil).varint(fieldPullMaxBytes+10, 1))),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			s1, s2 := populate(t), populate(t)
			var d EntryDecoder
			sameOutcome(t, name, s1, s2, &d, data, true)
			// and the decoder's scratch, reused, gives the same again
			sameOutcome(t, name+" (again)", s1, s2, &d, data, true)
		})
	}
}

// The decoder keeps nothing of an entry once applied: the values the queue holds are
// copies, not slices of the entry's bytes.
func TestEntryDecoderValuesOwnTheirBytes(t *testing.T) {
	s := New(nil)
	mustOK(t, apply(t, s, 1, cmd(t, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"})))
	data := enqueueEntry(t, 2, 3, 16, 4)
	var d EntryDecoder
	rs, err := d.Apply(s, data)
	if err != nil {
		t.Fatal(err)
	}
	mustOK(t, rs)
	for i := range data {
		data[i] = 0xee
	}
	recs, _ := s.queues["q"].Peek(10, true, 0)
	if len(recs) != 3 {
		t.Fatalf("%d items", len(recs))
	}
	for _, it := range recs {
		if len(it.Value) != 16 || bytes.IndexByte(it.Value, 0xee) >= 0 {
			t.Fatalf("item %d holds %x after its entry was overwritten", it.GetId(), it.Value)
		}
	}
	if len(d.items) == 0 || d.items[0].Value != nil || d.items[0].Key != nil {
		t.Fatal("the decoder's scratch still points at the last entry")
	}
}

// FuzzEntryDecoder: any bytes, applied through both paths to the same state, give the same
// outcome and state.
func FuzzEntryDecoder(f *testing.F) {
	g := gen{t: f, r: rand.New(rand.NewPCG(1, 2))}
	for i := range 40 {
		f.Add(g.entry(int64(200 + i)))
	}
	f.Add(enqueueEntry(f, 200, 4, 8, 4))
	f.Fuzz(func(t *testing.T, data []byte) {
		queue := cmd(t, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q", Priorities: 4, MaxSize: 400})
		s1, s2 := populate(t), populate(t)
		mustOK(t, apply(t, s1, 102, queue))
		mustOK(t, apply(t, s2, 102, queue))
		var d EntryDecoder
		sameOutcome(t, "fuzzed entry", s1, s2, &d, data, true)
	})
}
