package clustertest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/client"
)

// stallMeter runs a stream client that enqueues (idempotently, with unique keys) and
// records the longest time between two acknowledgements.
type stallMeter struct {
	mu      sync.Mutex
	last    time.Time
	longest time.Duration
	acks    int
	first   chan struct{}
}

// startStallMeter starts the client; it returns once the first enqueue is acknowledged.
func startStallMeter(t *testing.T, ctx context.Context, target, queue string) *stallMeter {
	t.Helper()
	q, err := client.NewQueueClient(target, queue)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &stallMeter{first: make(chan struct{})}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done; q.Close() })
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			key := []byte(fmt.Sprintf("stall-%d", i))
			for {
				_, err := q.Enqueue(ctx, &client.InputItem{Value: key, UniqueKey: key})
				if err == nil || ctx.Err() != nil {
					break
				}
			}
			if ctx.Err() != nil {
				return
			}
			m.ack(time.Now())
		}
	}()
	select {
	case <-m.first:
	case <-ctx.Done():
		t.Fatal("the stream client never enqueued")
	}
	return m
}

func (m *stallMeter) ack(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last.IsZero() {
		close(m.first)
	} else if gap := now.Sub(m.last); gap > m.longest {
		m.longest = gap
	}
	m.last = now
	m.acks++
}

// Longest is the longest stall so far, counting one still going on.
func (m *stallMeter) Longest() (time.Duration, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return max(m.longest, time.Since(m.last)), m.acks
}
