package service

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state"
)

// A lock waiting for a busy key writes nothing to the log while other keys of its storage
// change; it tries again (one entry) once the key is released, and gets it.
func TestLockWaitWritesNothingWhileKeyBusy(t *testing.T) {
	s := fuzzService(t)
	ctx := context.Background()
	holder, waiter := s.newSession(), s.newSession()
	if _, err := s.setOp("s", holder, &pb.StorageSetRequest{Key: []byte("k"), Value: []byte("v")})(ctx); err != nil {
		t.Fatal(err)
	}
	e, err := s.lockOp("s", holder, false, []byte("k"), nil, nil, 0)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type locked struct {
		d   *pb.StorageDataResponse
		err *apierr.Error
	}
	got := make(chan locked, 1)
	before := s.node.AppliedCommands()
	op := s.lockOp("s", waiter, false, []byte("k"), nil, nil, time.Minute)
	go func() {
		d, err := op(ctx)
		got <- locked{d, err}
	}()
	waitFor(t, "the lock to wait", func() bool { return s.node.Notifier().Waiters(state.LockKey("s", []byte("k"))) == 1 })
	const sets = 20
	for i := range sets {
		if _, err := s.setOp("s", holder, &pb.StorageSetRequest{Key: []byte(fmt.Sprintf("other-%d", i)), Value: []byte("v")})(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The waiter's first try (refused: busy), then only the sets.
	if d := s.node.AppliedCommands() - before; d != 1+sets {
		t.Fatalf("%d sets of other keys with a lock waiting applied %d commands, want %d (the waiter tried again)", sets, d, 1+sets)
	}
	if err := s.releaseOp("s", holder, &pb.StorageReleaseIdRequest{Id: e.GetId()})(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.err != nil || string(r.d.GetKey()) != "k" || r.d.GetLockToken() == 0 {
			t.Fatalf("lock after release = %v, %v", r.d, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the waiting lock did not get the released key")
	}
	if d := s.node.AppliedCommands() - before; d != 1+sets+2 {
		t.Fatalf("release and the waiter's lock applied %d commands after the sets, want 2", d-1-sets)
	}
}
