package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/clbs-io/octopusmq/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// A producer and a consumer of one queue (see the README Quick Start). The queue must exist:
// create it with AdminClient.EnsureQueue.
func Example_queue() {
	ctx := context.Background()
	admin, err := client.NewAdminClient("localhost:4123")
	if err != nil {
		log.Fatal(err)
	}
	defer admin.Close()
	if err := admin.EnsureQueue(ctx, client.QueueConfig{Name: "my-queue", Priorities: 32}); err != nil {
		log.Fatal(err)
	}

	qClient, err := client.NewQueueClient("localhost:4123", "my-queue")
	if err != nil {
		log.Fatal(err) // errors.Is(err, client.ErrQueueNotFound) when the queue does not exist
	}
	defer qClient.Close()

	id, err := qClient.Enqueue(ctx, &client.InputItem{
		Priority: 10,
		Key:      []byte("order-123"),
		Value:    []byte("process this order"),
		TTL:      durationpb.New(5 * time.Minute),
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("Enqueued message with ID: %d", id)

	items, err := qClient.Pull(ctx, 10)
	if err != nil {
		log.Fatal(err)
	}
	for _, item := range items {
		fmt.Printf("Processing message ID %d: %s\n", item.Id, item.Value)
		if err := qClient.CommitSingle(ctx, item.Id); err != nil {
			log.Printf("Failed to commit: %v", err)
		}
	}
}

// Set, get, lock and unlock a key (see the README Quick Start).
func Example_storage() {
	ctx := context.Background()
	sClient, err := client.NewStorageClient("localhost:4123", "my-storage")
	if err != nil {
		log.Fatal(err)
	}
	defer sClient.Close()

	id, err := sClient.SetKey(ctx, []byte("user:123"), []byte(`{"name":"John"}`),
		durationpb.New(10*time.Minute), false)
	if err != nil {
		log.Fatal(err)
	}
	value, err := sClient.GetKey(ctx, []byte("user:123"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("key %d = %s\n", id, value)

	lockedID, err := sClient.LockKey(ctx, []byte("user:123"), durationpb.New(30*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	if err := sClient.UnlockKey(ctx, lockedID); err != nil {
		log.Fatal(err)
	}
}

// Enqueue exactly once across lost connections: retry with the same unique key.
func ExampleQueueClient_EnqueueWithResult() {
	qClient, err := client.NewQueueClient("localhost:4123", "orders")
	if err != nil {
		log.Fatal(err)
	}
	defer qClient.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	item := &client.InputItem{UniqueKey: []byte("order-123"), Value: []byte("payload")}
	res, err := qClient.EnqueueWithResult(ctx, item)
	for errors.Is(err, client.ErrConnectionLost) {
		res, err = qClient.EnqueueWithResult(ctx, item) // no second copy: answers the first's id
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Id, res.Duplicate)
}

// A worker taking jobs stored as keys, with a fencing token guarding its writes.
func ExampleStorageClient_LockAnyToken() {
	sClient, err := client.NewStorageClient("localhost:4123", "jobs")
	if err != nil {
		log.Fatal(err)
	}
	defer sClient.Close()
	ctx := context.Background()
	for {
		lock, err := sClient.LockAnyToken(ctx, []byte("job:"), durationpb.New(time.Minute), 30*time.Second)
		if errors.Is(err, client.ErrTimeout) {
			continue // nothing to do yet
		}
		if err != nil {
			log.Fatal(err)
		}
		// … do the job, then record the result; a stale token (the lock expired and
		// another worker took the job) is refused with ErrItemBusy.
		if _, err := sClient.SetKeyWithToken(ctx, lock.Key, []byte("done"), nil, false, lock.Token); err != nil {
			log.Print(err)
		}
		if err := sClient.Release(ctx, lock.ID, false, lock.Token); err != nil {
			log.Print(err)
		}
	}
}

// Iterate over a storage's keys, page by page.
func ExampleStorageClient_Keys() {
	sClient, err := client.NewStorageClient("localhost:4123", "my-storage")
	if err != nil {
		log.Fatal(err)
	}
	defer sClient.Close()
	for key, err := range sClient.Keys(context.Background(), true) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s\n", key)
	}
}
