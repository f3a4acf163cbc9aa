package chaostest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"

	"github.com/clbs-io/octopusmq/client"
)

// kvKeys are the registers the key-value workload writes and reads.
var kvKeys = []string{"r0", "r1", "r2", "r3", "r4", "r5"}

// kvStore is one way to reach the "kv" storage: a Go stream client or REST.
type kvStore interface {
	set(ctx context.Context, key, value string) error
	// get returns the value, "" when the key does not exist.
	get(ctx context.Context, key string) (string, error)
}

type streamKV struct{ s *client.StorageClient }

func (k streamKV) set(ctx context.Context, key, value string) error {
	_, err := k.s.SetKey(ctx, []byte(key), []byte(value), nil, false)
	return err
}

func (k streamKV) get(ctx context.Context, key string) (string, error) {
	v, err := k.s.GetKey(ctx, []byte(key))
	if errors.Is(err, client.ErrKeyNotFound) {
		return "", nil
	}
	return string(v), err
}

type restKV struct{ urls func() []string }

func (k restKV) set(ctx context.Context, key, value string) error {
	return rest(ctx, "PUT", pick(k.urls())+"/v1/storages/kv/keys/"+url.PathEscape(key), map[string]any{"value": b64(value)}, nil)
}

func (k restKV) get(ctx context.Context, key string) (string, error) {
	var out struct {
		Item struct {
			Value string `json:"value"`
		} `json:"item"`
	}
	err := rest(ctx, "GET", pick(k.urls())+"/v1/storages/kv/keys/"+url.PathEscape(key), nil, &out)
	if statusOf(err) == 404 {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return unb64(out.Item.Value), nil
}

// kvWorker writes unique values to and reads the registers, recording every operation in h,
// until stop is closed or after maxOps operations.
func kvWorker(ctx context.Context, id int, store kvStore, h *History, r *Report, stop <-chan struct{}, maxOps int) {
	st := newStaller(r, fmt.Sprintf("kv%d", id))
	defer st.done() // a worker that stopped while stuck stalled until now
	for i := 0; i < maxOps; i++ {
		select {
		case <-stop:
			return
		default:
		}
		key := kvKeys[rand.IntN(len(kvKeys))]
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		call := h.Now()
		var err error
		if rand.IntN(2) == 0 {
			value := fmt.Sprintf("w%d-%d", id, i)
			err = st.try(octx, "set", func(ctx context.Context) error { return store.set(ctx, key, value) })
			// A failed write may still take effect (unknown outcome): open-ended.
			h.Write(id, key, value, call, err == nil)
			r.Op("kv-set", err)
		} else {
			var v string
			err = st.try(octx, "get", func(ctx context.Context) (err error) { v, err = store.get(ctx, key); return err })
			if err == nil {
				h.Read(id, key, v, call)
			}
			r.Op("kv-get", err)
		}
		cancel()
		if err == nil {
			st.done()
		} else {
			if ctx.Err() != nil {
				return
			}
			pause(ctx)
		}
	}
}
