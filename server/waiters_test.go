package server_test

// Waiters (long-polling pulls, lock waits) over real HTTP: they leave nothing behind in the
// notifier, and deleting what they wait on answers them at once.

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/servertest"
	"github.com/clbs-io/octopusmq/server/state"
)

// waiters is the number of waiters on a notifier key in srv.
func waiters(srv *servertest.Server, key string) int {
	return srv.Server().Node().State().Notifier().Waiters(key)
}

// awaitWaiters waits until key has n waiters (a waiter is an event inside the server that
// no answer reports, so it is observed).
func awaitWaiters(t *testing.T, srv *servertest.Server, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for waiters(srv, key) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters on %s, want %d", waiters(srv, key), key, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWaitsOnUnknownNamesLeaveNothing(t *testing.T) {
	srv := servertest.Start(t)
	u := srv.URL
	servertest.HTTP(t, "POST", u+"/v1/queues", `{"queueName":"real"}`)
	servertest.HTTP(t, "POST", u+"/v1/storages", `{"storageName":"real"}`)
	for i := range 50 {
		for _, c := range []struct{ url, body string }{
			{fmt.Sprintf("%s/v1/queues/made-up-%d/items:pull", u, i), `{"timeout":"5s"}`},
			{fmt.Sprintf("%s/v1/queues/made-up-%d/items", u, i), `{"items":[{"value":"eA=="}],"timeout":"5s"}`},
			{fmt.Sprintf("%s/v1/storages/made-up-%d/keys/k:lock", u, i), `{"timeout":"5s"}`},
			{fmt.Sprintf("%s/v1/storages/made-up-%d:lockAny", u, i), `{"timeout":"5s"}`},
		} {
			if code, body := servertest.HTTP(t, "POST", c.url, c.body); code != http.StatusNotFound {
				t.Fatalf("POST %s: %d %s, want 404", c.url, code, body)
			}
		}
	}
	// Waits that time out on real names end without a trace too.
	if code, body := servertest.HTTP(t, "POST", u+"/v1/queues/real/items:pull", `{"timeout":"0.1s"}`); code != http.StatusOK {
		t.Fatalf("pull: %d %s", code, body)
	}
	if code, body := servertest.HTTP(t, "POST", u+"/v1/storages/real:lockAny", `{"timeout":"0.1s"}`); code != http.StatusConflict {
		t.Fatalf("lockAny: %d %s", code, body)
	}
	notifier := srv.Server().Node().State().Notifier()
	for i := range 50 {
		for _, key := range []string{state.QueueKey(fmt.Sprint("made-up-", i)), state.LockKey(fmt.Sprint("made-up-", i), []byte("k")), state.AnyLockKey(fmt.Sprint("made-up-", i), nil)} {
			if n := notifier.Waiters(key); n != 0 {
				t.Fatalf("the notifier keeps %s (%d waiters) after every waiter ended", key, n)
			}
		}
	}
	for _, key := range []string{state.QueueKey("real"), state.AnyLockKey("real", nil)} {
		if n := notifier.Waiters(key); n != 0 {
			t.Fatalf("the notifier keeps %s (%d waiters) after every waiter ended", key, n)
		}
	}
}

// waitFor runs an HTTP request in the background and answers its status and duration.
func waitFor(t *testing.T, method, url, body string) <-chan [2]int {
	out := make(chan [2]int, 1)
	go func() {
		start := time.Now()
		code, _ := servertest.HTTP(t, method, url, body)
		out <- [2]int{code, int(time.Since(start) / time.Millisecond)}
	}()
	return out
}

func wantPromptNotFound(t *testing.T, what string, got <-chan [2]int) {
	t.Helper()
	select {
	case r := <-got:
		if r[0] != http.StatusNotFound {
			t.Fatalf("%s: the waiter got %d, want 404", what, r[0])
		}
		if r[1] > 10_000 {
			t.Fatalf("%s: the waiter answered after %d ms (its wait is 30 s), want promptly", what, r[1])
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: the waiter was not answered", what)
	}
}

func TestDeleteWakesWaiters(t *testing.T) {
	srv := servertest.Start(t)
	u := srv.URL
	servertest.HTTP(t, "POST", u+"/v1/storages", `{"storageName":"s"}`)
	servertest.HTTP(t, "POST", u+"/v1/queues", `{"queueName":"q"}`)
	lockKey := func(key string) uint64 {
		kvJSON(t, "PUT", u+"/v1/storages/s/keys/"+key, `{"value":"eA=="}`, http.StatusOK)
		_, _, _, token := kvItem(t, kvJSON(t, "POST", u+"/v1/storages/s/keys/"+key+":lock", `{"lockTtl":"60s"}`, http.StatusOK))
		return token
	}

	// A waiter to lock a key its holder deletes.
	token := lockKey("gone")
	got := waitFor(t, "POST", u+"/v1/storages/s/keys/gone:lock", `{"timeout":"30s"}`)
	awaitWaiters(t, srv, state.LockKey("s", []byte("gone")), 1)
	kvJSON(t, "DELETE", fmt.Sprintf("%s/v1/storages/s/keys/gone?lockToken=%d", u, token), "", http.StatusOK)
	wantPromptNotFound(t, "key deleted", got)

	// A waiter to lock a key of a storage that is deleted.
	lockKey("k")
	got = waitFor(t, "POST", u+"/v1/storages/s/keys/k:lock", `{"timeout":"30s"}`)
	awaitWaiters(t, srv, state.LockKey("s", []byte("k")), 1)
	kvJSON(t, "DELETE", u+"/v1/storages/s", "", http.StatusOK)
	wantPromptNotFound(t, "storage deleted", got)

	// A puller on a queue that is deleted.
	got = waitFor(t, "POST", u+"/v1/queues/q/items:pull", `{"timeout":"30s"}`)
	awaitWaiters(t, srv, state.QueueKey("q"), 1)
	kvJSON(t, "DELETE", u+"/v1/queues/q", "", http.StatusOK)
	wantPromptNotFound(t, "queue deleted", got)

	awaitWaiters(t, srv, state.LockKey("s", []byte("k")), 0)
	awaitWaiters(t, srv, state.QueueKey("q"), 0)
}
