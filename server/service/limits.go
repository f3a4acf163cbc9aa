package service

import (
	"fmt"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state"
	"github.com/clbs-io/octopusmq/server/state/kv"
)

// Limits bounds what clients may send and what the server answers in one message. Every
// size the server accepts is one of these, checked where a request enters (with an error
// naming the field and the limit), and every reader of stored data (snapshot restore,
// follower snapshot install, backup restore, log replay) accepts anything they allow.
type Limits struct {
	// MaxValueBytes is the largest item or key value accepted (before compression).
	MaxValueBytes int
	// MaxKeyBytes is the largest storage key and queue item key (group key); at most
	// kv.MaxKeyLen (1024), the storage engine's own bound.
	MaxKeyBytes int
	// MaxUniqueKeyBytes is the largest queue item unique_key.
	MaxUniqueKeyBytes int
	// MaxNameBytes is the longest name of a new queue or storage; at most state.MaxNameLen
	// (200). Existing names stay usable when it is lowered.
	MaxNameBytes int
	// MaxBatch is the most items, ids or keys one request may name (batch enqueue, commit,
	// requeue, delete, extend, get_by_ids). A pull asking for more gets at most this many.
	MaxBatch int
	// MaxRequestBytes is the largest gRPC message the server receives (a whole batch).
	MaxRequestBytes int
	// MaxResponseBytes bounds the items one pull (or get_by_ids) answers: a pull stops
	// leasing items once the next would not fit, so it never leases what it cannot
	// deliver. A single item is always delivered.
	MaxResponseBytes int
	// MaxHTTPBodyBytes is the largest HTTP request body (JSON; base64 makes values 4/3 as
	// large). Snapshot restore uploads are not bound by it.
	MaxHTTPBodyBytes int
	// MaxQueues and MaxStorages cap how many queues and storages may exist (see caps.go).
	MaxQueues   int
	MaxStorages int
}

// DefaultLimits are the limits of a server configured with none.
var DefaultLimits = Limits{
	MaxValueBytes:     4 << 20,
	MaxKeyBytes:       kv.MaxKeyLen,
	MaxUniqueKeyBytes: 1024,
	MaxNameBytes:      state.MaxNameLen,
	MaxBatch:          1000,
	MaxRequestBytes:   5 << 20,
	MaxResponseBytes:  16 << 20,
	MaxHTTPBodyBytes:  8 << 20,
	MaxQueues:         10000,
	MaxStorages:       10000,
}

// MaxPageSize is the most keys one listing page (REST ListKeys) answers.
const MaxPageSize = 1000

// MaxMessageCeiling bounds every configurable message size. Readers of stored data and the
// server's own connections accept messages up to it, so any configuration's data stays
// readable by any other (state.MaxRecordBytes is larger still).
const MaxMessageCeiling = 256 << 20

// itemOverhead is room for everything in a request or response besides an item's value,
// key and unique key: ids, priorities, durations, timestamps, a queue name, framing.
const itemOverhead = 4 << 10

// WithDefaults returns l with every unset (zero) limit at its default.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxValueBytes, DefaultLimits.MaxValueBytes)
	def(&l.MaxKeyBytes, DefaultLimits.MaxKeyBytes)
	def(&l.MaxUniqueKeyBytes, DefaultLimits.MaxUniqueKeyBytes)
	def(&l.MaxNameBytes, DefaultLimits.MaxNameBytes)
	def(&l.MaxBatch, DefaultLimits.MaxBatch)
	def(&l.MaxQueues, DefaultLimits.MaxQueues)
	def(&l.MaxStorages, DefaultLimits.MaxStorages)
	if l.MaxRequestBytes == 0 {
		l.MaxRequestBytes = max(DefaultLimits.MaxRequestBytes, l.minMessage())
	}
	if l.MaxResponseBytes == 0 {
		l.MaxResponseBytes = max(DefaultLimits.MaxResponseBytes, l.minMessage())
	}
	if l.MaxHTTPBodyBytes == 0 {
		l.MaxHTTPBodyBytes = max(DefaultLimits.MaxHTTPBodyBytes, l.MaxRequestBytes/3*4+itemOverhead)
	}
	return l
}

// minMessage is the smallest request or response that holds one item at the limits.
func (l Limits) minMessage() int {
	return l.MaxValueBytes + l.MaxKeyBytes + l.MaxUniqueKeyBytes + itemOverhead
}

// Validate reports a limit out of range or limits that contradict each other (a message
// limit too small for one maximal item). Flag names are those of cmd/octopusmq.
func (l Limits) Validate() error {
	positive := []struct {
		flag string
		v    int
	}{
		{"--max-value-bytes", l.MaxValueBytes}, {"--max-key-bytes", l.MaxKeyBytes},
		{"--max-unique-key-bytes", l.MaxUniqueKeyBytes}, {"--max-name-bytes", l.MaxNameBytes},
		{"--max-batch", l.MaxBatch}, {"--max-request-bytes", l.MaxRequestBytes},
		{"--max-response-bytes", l.MaxResponseBytes}, {"--max-http-body-bytes", l.MaxHTTPBodyBytes},
		{"--max-queues", l.MaxQueues}, {"--max-storages", l.MaxStorages},
	}
	for _, p := range positive {
		if p.v < 1 || p.v > MaxMessageCeiling {
			return fmt.Errorf("%s is %d; it must be 1–%d", p.flag, p.v, MaxMessageCeiling)
		}
	}
	if l.MaxKeyBytes > kv.MaxKeyLen {
		return fmt.Errorf("--max-key-bytes is %d; keys are at most %d bytes", l.MaxKeyBytes, kv.MaxKeyLen)
	}
	if l.MaxNameBytes > state.MaxNameLen {
		return fmt.Errorf("--max-name-bytes is %d; names are at most %d bytes", l.MaxNameBytes, state.MaxNameLen)
	}
	if m := l.minMessage(); l.MaxRequestBytes < m {
		return fmt.Errorf("--max-request-bytes is %d; one item at the value, key and unique key limits needs %d", l.MaxRequestBytes, m)
	}
	if m := max(l.minMessage(), MaxPageSize*(l.MaxKeyBytes+8)+itemOverhead); l.MaxResponseBytes < m {
		return fmt.Errorf("--max-response-bytes is %d; one item at the value, key and unique key limits (or a page of keys) needs %d", l.MaxResponseBytes, m)
	}
	return nil
}

// checkItem checks an input item's sizes; field names it in the request ("items"), index
// its place there: the error says "items[3].value". The name is built only for an error,
// so a valid item costs no allocation here.
func (l Limits) checkItem(field string, index int, it *pb.InputItem) *apierr.Error {
	for _, c := range [...]struct {
		name     string
		n, limit int
		flag     string
	}{
		{"value", len(it.GetValue()), l.MaxValueBytes, "--max-value-bytes"},
		{"key", len(it.GetKey()), l.MaxKeyBytes, "--max-key-bytes"},
		{"unique_key", len(it.GetUniqueKey()), l.MaxUniqueKeyBytes, "--max-unique-key-bytes"},
	} {
		if c.n > c.limit {
			return checkBytes(fmt.Sprintf("%s[%d].%s", field, index, c.name), c.n, c.limit, c.flag)
		}
	}
	return nil
}

// checkKey checks a storage key: 1 byte up to the key limit.
func (l Limits) checkKey(field string, key []byte) *apierr.Error {
	if len(key) == 0 {
		return apierr.InvalidArgument("%s must not be empty", field)
	}
	return checkBytes(field, len(key), l.MaxKeyBytes, "--max-key-bytes")
}

// checkBatch checks the number of entries of a repeated field.
func (l Limits) checkBatch(field string, n int) *apierr.Error {
	if n > l.MaxBatch {
		return apierr.InvalidArgument("%s has %d entries; at most %d are allowed (--max-batch)", field, n, l.MaxBatch)
	}
	return nil
}

// checkNewName checks the name of a queue or storage being created: the state's rules,
// the name limit, and not "." or ".." (a REST path cannot name them).
func (l Limits) checkNewName(field, name string) *apierr.Error {
	if err := state.ValidateName(field, name); err != nil {
		return err
	}
	if len(name) > l.MaxNameBytes {
		return apierr.InvalidArgument("%s is %d characters long; at most %d are allowed (--max-name-bytes)", field, len(name), l.MaxNameBytes)
	}
	if name == "." || name == ".." {
		return apierr.InvalidArgument("%s must not be %q: a URL path cannot name it", field, name)
	}
	return nil
}

func checkBytes(field string, n, limit int, flag string) *apierr.Error {
	if n > limit {
		return apierr.InvalidArgument("%s is %d bytes; at most %d are allowed (%s)", field, n, limit, flag)
	}
	return nil
}
