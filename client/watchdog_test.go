package client

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// A node that accepts the stream and then answers nothing (SIGSTOPped, hung) is given up
// after the silence timeout: the in-flight write fails with ErrConnectionLost, the read is
// re-sent, and the client reconnects to another node rather than the silent one.
func TestSilentStreamFailsOver(t *testing.T) {
	// silentOnly answers only while its flag is false (a silent node answers nothing, not
	// even noops).
	silentOnly := func(silent *atomic.Bool) func(*fakeQueueStream, *pb.QueueRequest) {
		return func(fs *fakeQueueStream, req *pb.QueueRequest) {
			if !silent.Load() {
				defaultQueueAnswer(fs, req)
			}
		}
	}
	var hungSilent, healthySilent atomic.Bool
	hungSilent.Store(true)
	hung := startFakeQueues(t, &fakeQueues{})
	hung.handle = silentOnly(&hungSilent)
	healthy := startFakeQueues(t, &fakeQueues{})
	healthy.handle = silentOnly(&healthySilent)
	q := newTestQueueClient(t, hung.addr+","+healthy.addr,
		WithSilenceTimeout(400*time.Millisecond), WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	ctx := testCtx(t)

	start := time.Now()
	_, err := q.Enqueue(ctx, &InputItem{Value: []byte("a")})
	if !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("an enqueue on a silent stream: %v, want ErrConnectionLost", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the silent stream was given up after %v (silence timeout 400ms)", took)
	}
	start = time.Now()
	info, err := q.Info(ctx)
	if err != nil || info.Length != 3 {
		t.Fatalf("Info after the silent node: %+v %v", info, err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("reconnecting took %v", took)
	}
	if hung.streams.Load() != 1 || healthy.streams.Load() != 1 {
		t.Fatalf("streams: silent node %d, healthy node %d; want 1 and 1 (the silent node not retried first)",
			hung.streams.Load(), healthy.streams.Load())
	}

	// A read stuck on a silent stream is re-sent elsewhere without the caller noticing.
	healthySilent.Store(true)
	hungSilent.Store(false)
	start = time.Now()
	if info, err := q.Info(ctx); err != nil || info.Length != 3 {
		t.Fatalf("Info across a silent stream: %+v %v", info, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("a read on a silent stream took %v", took)
	}
}

// A long poll is not silence: the server answers the watchdog's noops meanwhile.
func TestLongPollIsNotSilence(t *testing.T) {
	f := startFakeQueues(t, &fakeQueues{})
	f.handle = func(fs *fakeQueueStream, req *pb.QueueRequest) {
		if req.GetPull() != nil {
			time.Sleep(1500 * time.Millisecond) // the long poll finds an item late
		}
		defaultQueueAnswer(fs, req)
	}
	q := newTestQueueClient(t, f.addr, WithSilenceTimeout(400*time.Millisecond))
	items, err := q.Pull(testCtx(t), 1)
	if err != nil || len(items) != 1 {
		t.Fatalf("Pull = %v, %v", items, err)
	}
	if n := f.streams.Load(); n != 1 {
		t.Fatalf("%d streams: a long poll was taken for a dead stream", n)
	}
	noops := 0
	for _, r := range f.requests() {
		if r.GetNoop() != nil {
			noops++
		}
	}
	if noops == 0 {
		t.Fatal("no noop probed the quiet stream")
	}
}

// slowConn delivers what it reads at about rate bytes a second: a slow link.
type slowConn struct {
	net.Conn
	rate int
}

func (c slowConn) Read(p []byte) (int, error) {
	if len(p) > 8<<10 {
		p = p[:8<<10]
	}
	n, err := c.Conn.Read(p)
	time.Sleep(time.Duration(n) * time.Second / time.Duration(c.rate)) // the link's pace, not synchronisation
	return n, err
}

// An answer that takes longer than the silence timeout to arrive is not silence while its
// bytes flow: a 768 KiB pull answer over a 256 KiB/s link (about 3 s) with a 400 ms
// silence timeout is received on the first stream. Before the read clock the session
// failed after 400 ms, the pull was sent again, and so on until the caller gave up.
func TestSlowLargeAnswerIsNotSilence(t *testing.T) {
	value := bytes.Repeat([]byte("x"), 768<<10)
	f := startFakeQueues(t, &fakeQueues{})
	f.handle = func(fs *fakeQueueStream, req *pb.QueueRequest) {
		if req.GetPull() != nil {
			fs.reply(&pb.QueueResponse{CorrelationId: req.GetCorrelationId(),
				Response: &pb.QueueResponse_Pull{Pull: &pb.PullResponse{Items: []*pb.Item{{Id: 7, Value: value}}}}})
			return
		}
		defaultQueueAnswer(fs, req)
	}
	slow := func(o *options) {
		o.dialTCP = func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return slowConn{Conn: c, rate: 256 << 10}, nil
		}
	}
	q := newTestQueueClient(t, f.addr, WithSilenceTimeout(400*time.Millisecond), slow)
	items, err := q.Pull(testCtx(t), 1)
	if err != nil || len(items) != 1 || !bytes.Equal(items[0].Value, value) {
		t.Fatalf("Pull over a slow link: %d items, %v", len(items), err)
	}
	if n := f.streams.Load(); n != 1 {
		t.Fatalf("%d streams: a slow answer was taken for a silent stream", n)
	}
}
