package chaostest

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// kvInput is one register operation on a key: a write of value, or a read.
type kvInput struct {
	key   string
	write bool
	value string
}

// kvOutput is what a read saw ("" when the key did not exist).
type kvOutput struct{ value string }

// registerModel is a register per key, absent ("") at first.
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		in := input.(kvInput)
		if in.write {
			return true, in.value
		}
		return output.(kvOutput).value == state.(string), state
	},
	DescribeOperation: func(input, output interface{}) string {
		in := input.(kvInput)
		if in.write {
			return fmt.Sprintf("set(%s, %q)", in.key, in.value)
		}
		return fmt.Sprintf("get(%s) -> %q", in.key, output.(kvOutput).value)
	},
}

// History records key-value operations with their invocation and return times (monotonic
// nanoseconds since the run started).
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// NewHistory starts an empty history whose clock starts now.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the history's clock.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Write records a write of value to key invoked at call. ok=false means its outcome is
// unknown: it may take effect at any time after call, so it stays open-ended.
func (h *History) Write(client int, key, value string, call int64, ok bool) {
	ret := int64(math.MaxInt64)
	if ok {
		ret = h.Now()
	}
	h.add(porcupine.Operation{ClientId: client, Input: kvInput{key: key, write: true, value: value}, Call: call, Output: kvOutput{}, Return: ret})
}

// Read records a completed read of key that saw value ("" = absent). Failed reads are not
// recorded: they changed nothing.
func (h *History) Read(client int, key, value string, call int64) {
	h.add(porcupine.Operation{ClientId: client, Input: kvInput{key: key, value: value}, Call: call, Output: kvOutput{value: value}, Return: h.Now()})
}

func (h *History) add(op porcupine.Operation) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Len is the number of recorded operations.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// Check runs porcupine over the history: Ok, Illegal (a violation) or Unknown (the search
// ran out of time).
func (h *History) Check(timeout time.Duration) porcupine.CheckResult {
	h.mu.Lock()
	ops := append([]porcupine.Operation(nil), h.ops...)
	h.mu.Unlock()
	return porcupine.CheckOperationsTimeout(registerModel, ops, timeout)
}
