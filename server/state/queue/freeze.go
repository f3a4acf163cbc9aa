package queue

import (
	"unsafe"

	"github.com/google/btree"
	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// Frozen is a queue as of one moment (Freeze): its settings and every item. Later changes
// to the queue do not show in it, and reading it may run concurrently with them.
type Frozen struct {
	cfg    *pb.CreateQueueRequest
	paused bool
	items  *btree.BTreeG[*item]
}

// Freeze returns the queue as of now, in O(1) plus the size of its settings: the items
// B-tree is cloned lazily (copy-on-write), and the queue copies an item before it next
// changes it (own), so the view keeps the values it had.
func (q *Queue) Freeze() *Frozen {
	q.gen++
	return &Frozen{
		cfg:    proto.Clone(q.cfg).(*pb.CreateQueueRequest),
		paused: q.paused,
		items:  q.items.Clone(),
	}
}

// Config is the queue's settings. Callers must not modify it.
func (f *Frozen) Config() *pb.CreateQueueRequest { return f.cfg }

// Paused reports whether pulls were paused.
func (f *Frozen) Paused() bool { return f.paused }

// Snapshot emits every item (waiting and active) in id order, as Queue.Snapshot does. It
// stops at, and returns, the first error emit returns.
func (f *Frozen) Snapshot(emit func(*raftpb.QueueItem) error) error {
	var err error
	f.items.Ascend(func(it *item) bool {
		err = emit(record(f.cfg.GetQueueName(), it))
		return err == nil
	})
	return err
}

// EachRecord is Snapshot without an allocation per item, for encoders: every call of emit
// gets the same record, refilled, whose Key and UniqueKey share the queue's strings. emit
// must not keep the record nor write into its byte slices (it may set its fields: each
// item refills them all).
func (f *Frozen) EachRecord(emit func(*raftpb.QueueItem) error) error {
	var err error
	r := &raftpb.QueueItem{}
	name := f.cfg.GetQueueName()
	f.items.Ascend(func(it *item) bool {
		fillRecord(r, name, it)
		if it.grp != nil {
			r.Key = readOnlyBytes(it.grp.key)
		}
		if uk := it.ukey(); uk != "" {
			r.UniqueKey = readOnlyBytes(uk)
		}
		err = emit(r)
		return err == nil
	})
	return err
}

// readOnlyBytes is s's bytes, not copied: they must not be modified.
func readOnlyBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
