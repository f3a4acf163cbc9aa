package client_test

import (
	"bytes"
	"context"
	"errors"
	"log"
	"regexp"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The README's Quick Start programs, verbatim except: their main() is a function taking the
// test and the server address (instead of "localhost:4123"), and log.Fatal is t.Fatal.

func readmeQueueMain(t *testing.T, addr string) {
	// Create a new queue client
	qClient, err := client.NewQueueClient(addr, "my-queue")
	if err != nil {
		t.Fatal(err)
	}
	defer qClient.Close()

	ctx := context.Background()

	// Enqueue a message
	item := &client.InputItem{
		Priority: 10,
		Key:      []byte("order-123"),
		Value:    []byte("process this order"),
		TTL:      durationpb.New(5 * time.Minute),
	}

	id, err := qClient.Enqueue(ctx, item)
	if err != nil {
		t.Fatal(err)
	}
	log.Printf("Enqueued message with ID: %d", id)

	// Pull messages
	items, err := qClient.Pull(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}

	for _, item := range items {
		log.Printf("Processing message ID %d: %s", item.Id, string(item.Value))

		// Commit when done
		if err := qClient.CommitSingle(ctx, item.Id); err != nil {
			log.Printf("Failed to commit: %v", err)
		}
	}
}

func readmeStorageMain(t *testing.T, addr string) {
	// Create a new storage client
	sClient, err := client.NewStorageClient(addr, "my-storage")
	if err != nil {
		t.Fatal(err)
	}
	defer sClient.Close()

	ctx := context.Background()

	// Set a key-value pair
	id, err := sClient.SetKey(ctx, []byte("user:123"), []byte(`{"name":"John"}`),
		durationpb.New(10*time.Minute), false)
	if err != nil {
		t.Fatal(err)
	}
	log.Printf("Set key with ID: %d", id)

	// Get a value
	value, err := sClient.GetKey(ctx, []byte("user:123"))
	if err != nil {
		t.Fatal(err)
	}
	log.Printf("Retrieved value: %s", string(value))

	// Lock a key
	lockedID, err := sClient.LockKey(ctx, []byte("user:123"),
		durationpb.New(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	log.Printf("Locked key with ID: %d", lockedID)

	// Unlock when done
	if err := sClient.UnlockKey(ctx, lockedID); err != nil {
		t.Fatal(err)
	}
}

// readmeSnippets holds the README's shorter snippets (Queue Operations, Storage
// Operations, Connection Management, Error Handling) so that they keep compiling against
// the package; it runs them too.
func readmeSnippets(t *testing.T, addr string) {
	ctx := context.Background()
	qClient, err := client.NewQueueClient(addr, "my-queue")
	if err != nil {
		t.Fatal(err)
	}
	defer qClient.Close()
	sClient, err := client.NewStorageClient(addr, "my-storage")
	if err != nil {
		t.Fatal(err)
	}
	defer sClient.Close()
	item := &client.InputItem{Value: []byte("snippet")}
	items := []*client.InputItem{{Value: []byte("a")}, {Value: []byte("b")}}
	maxMessages := 10
	newTTL, newPriority := durationpb.New(time.Minute), uint32(1)
	key, value, ttl, compress := []byte("k"), []byte("v"), durationpb.New(time.Minute), true
	keyPrefix := []byte("k")

	{
		id, err := qClient.Enqueue(ctx, item)
		check(t, err, id != 0)
	}
	{
		ids, err := qClient.BatchEnqueue(ctx, items)
		check(t, err, len(ids) == 2)
	}
	var itemID uint64
	var itemIDs []uint64
	{
		items, err := qClient.Pull(ctx, maxMessages)
		check(t, err, len(items) == 3)
		itemID = items[0].Id
		itemIDs = []uint64{items[1].Id, items[2].Id}
	}
	{
		err := qClient.RequeueSingle(ctx, itemID, newTTL, newPriority)
		check(t, err, true)
	}
	{
		item, err := qClient.PullSingle(ctx)
		check(t, err, item != nil && item.Id == itemID)
	}
	{
		err := qClient.CommitSingle(ctx, itemID)
		check(t, err, true)
	}
	{
		err := qClient.Commit(ctx, itemIDs)
		check(t, err, true)
	}
	{
		id, err := qClient.Enqueue(ctx, item)
		check(t, err, true)
		itemID = id
		err = qClient.DeleteSingle(ctx, itemID)
		check(t, err, true)
		ids, err := qClient.BatchEnqueue(ctx, items)
		check(t, err, true)
		itemIDs = ids
		err = qClient.Delete(ctx, itemIDs)
		check(t, err, true)
	}

	{
		id, err := sClient.SetKey(ctx, key, value, ttl, compress)
		check(t, err, id != 0)
		ids := []uint64{id}
		// Get single key
		value, err := sClient.GetKey(ctx, key)
		check(t, err, string(value) == "v")
		// Get multiple keys by ID
		items, err := sClient.GetKeys(ctx, ids)
		check(t, err, len(items) == 1 && string(items[0].Value) == "v")
	}
	{
		// Lock specific key
		id, err := sClient.LockKey(ctx, key, ttl)
		check(t, err, id != 0)
		err = sClient.UnlockKey(ctx, id)
		check(t, err, true)
	}
	{
		// Lock any available key with prefix
		id, key, err := sClient.LockAny(ctx, keyPrefix, ttl)
		check(t, err, id != 0 && string(key) == "k")
		err = sClient.UnlockKey(ctx, id)
		check(t, err, true)
	}
	{
		err := sClient.DeleteKey(ctx, key)
		check(t, err, true)
	}
	{
		client, err := client.NewQueueClient(addr, "my-queue")
		// Client automatically handles:
		// - Connection establishment
		// - Stream management
		// - Correlation ID tracking
		// - Error handling
		check(t, err, true)
		client.Close()
	}
	{
		qClient, err := client.NewQueueClient(addr, "my-queue", client.WithPullTimeout(100*time.Millisecond))
		check(t, err, true)
		defer qClient.Close()
		items, err := qClient.Pull(ctx, 10)
		if err != nil {
			switch {
			case errors.Is(err, client.ErrQueueNotFound):
				// Handle queue not found
			case errors.Is(err, client.ErrTimeout):
				// Handle timeout
			default:
				// Handle other errors
			}
		}
		check(t, err, len(items) == 0)
	}
}

func check(t *testing.T, err error, ok bool) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatal("unexpected result")
	}
}

func TestE2EReadme(t *testing.T) {
	srv := startServer(t)
	admin := newAdmin(t, srv.Addr)
	ctx := context.Background()
	if err := admin.CreateQueue(ctx, client.QueueConfig{Name: "my-queue", Priorities: 32}); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateStorage(ctx, "my-storage"); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	prev := log.Writer()
	log.SetOutput(&out)
	defer log.SetOutput(prev)
	flags := log.Flags()
	log.SetFlags(0)
	defer log.SetFlags(flags)
	defer func() {
		if t.Failed() {
			t.Logf("README programs' log:\n%s", out.String())
		}
	}()

	readmeQueueMain(t, srv.Addr)
	logged := out.String()
	m := regexp.MustCompile(`Enqueued message with ID: (\d+)\n`).FindStringSubmatch(logged)
	if m == nil || m[1] == "0" {
		t.Fatalf("queue program: no non-zero id in %q", logged)
	}
	if !bytes.Contains(out.Bytes(), []byte("Processing message ID "+m[1]+": process this order\n")) {
		t.Fatalf("queue program did not process its message: %q", logged)
	}
	if bytes.Contains(out.Bytes(), []byte("Failed to commit")) {
		t.Fatalf("queue program failed to commit: %q", logged)
	}

	out.Reset()
	readmeStorageMain(t, srv.Addr)
	logged = out.String()
	setID := regexp.MustCompile(`Set key with ID: (\d+)\n`).FindStringSubmatch(logged)
	lockID := regexp.MustCompile(`Locked key with ID: (\d+)\n`).FindStringSubmatch(logged)
	if setID == nil || setID[1] == "0" || lockID == nil || lockID[1] != setID[1] {
		t.Fatalf("storage program: ids in %q (set and lock must name the same non-zero id)", logged)
	}
	if !bytes.Contains(out.Bytes(), []byte(`Retrieved value: {"name":"John"}`+"\n")) {
		t.Fatalf("storage program: value did not round-trip: %q", logged)
	}
	// Running the programs again works (the key is unlocked, the queue empty).
	out.Reset()
	readmeQueueMain(t, srv.Addr)
	readmeStorageMain(t, srv.Addr)

	qs, err := admin.ListQueues(ctx)
	if err != nil || len(qs) != 1 || qs[0].Count != 0 {
		t.Fatalf("queues after the README program = %+v, %v; want my-queue, empty", qs, err)
	}
	readmeSnippets(t, srv.Addr)
}
