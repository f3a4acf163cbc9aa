package clustertest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/client"
)

// TestLockWaitAcrossLeaderKill kills -9 the leader while a Go client waits in a lock call
// for a key another client holds. The wait lives on the old leader's session: the call must
// end at once (connection lost: its stream ended), not wait for its deadline, and the
// client's next lock (of a free key) must be answered by the new leader about an election
// after the kill. (Go lockers took 6-8 s after a leader's kill in the chaos suite; what was
// the client's was the reconnect backoff, the rest the locks of holders whose release
// failed, which last their ttl.)
func TestLockWaitAcrossLeaderKill(t *testing.T) {
	c, leader, _ := clusterWith(t, "storages", "locks")
	for _, k := range []string{"held", "free"} {
		if code, body := httpDo(t, "PUT", leader.URL()+"/v1/storages/locks/keys/"+k, `{"value":"dg=="}`); code != 200 {
			t.Fatalf("put %s: %d %s", k, code, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	holder, err := client.NewStorageClient(leader.Addr, "locks")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.LockKeyToken(ctx, []byte("held"), durationpb.New(time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	waiter, err := client.NewStorageClient(c.Addrs(), "locks")
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()
	type answer struct {
		err error
		at  time.Time
	}
	done := make(chan answer, 1)
	go func() {
		_, err := waiter.LockKeyToken(ctx, []byte("held"), durationpb.New(time.Minute), 30*time.Second)
		done <- answer{err, time.Now()}
	}()
	// The waiter is parked once the leader counts a lock wait; a short settle suffices
	// otherwise (a call sent after the kill fails the same way).
	time.Sleep(500 * time.Millisecond)
	killed := time.Now()
	c.Kill(leader)
	a := awaitStopped(t, done, 10*time.Second, "the waiting lock call not answered")
	t.Logf("the waiting lock call ended %v after the kill: %v", a.at.Sub(killed), a.err)
	if !errors.Is(a.err, client.ErrConnectionLost) {
		t.Fatalf("waiting lock call across the kill: %v, want ErrConnectionLost", a.err)
	}
	if d := a.at.Sub(killed); d > time.Second {
		t.Fatalf("the waiting lock call ended %v after the kill (bound 1s: its stream ended)", d)
	}
	// The next lock goes to the new leader.
	for {
		_, err := waiter.LockKeyToken(ctx, []byte("free"), durationpb.New(time.Minute), 0)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no lock after the kill: %v", err)
		}
		t.Logf("lock %v after the kill: %v", time.Since(killed), err)
	}
	took := time.Since(killed)
	t.Logf("a lock of a free key answered %v after the kill", took)
	if took > electionBound {
		t.Fatalf("a lock after the leader's kill took %v (bound %v)", took, electionBound)
	}
}
