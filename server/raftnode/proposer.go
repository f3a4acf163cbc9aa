package raftnode

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state"
)

// Errors of Propose. ErrNotLeader means the command was provably not executed (safe to
// retry elsewhere); ErrOutcomeUnknown means it may or may not have been committed.
var (
	ErrNotLeader      = errors.New("this node is not the leader")
	ErrOutcomeUnknown = errors.New("leadership was lost while the command was in flight; its outcome is unknown")
	ErrShutdown       = errors.New("the node is shutting down")
)

// maxBatch bounds the commands coalesced into one log entry; maxInflight bounds the entries
// handed to Raft and not yet applied. While entries are in flight, a new batch keeps
// growing until one of them is answered (or it is full, or maxLinger passed): Raft is busy
// writing those anyway, so the commands arriving meanwhile go together into one entry
// instead of many small ones. With nothing in flight a batch ships at once.
const (
	maxBatch      = 1024
	maxBatchBytes = 4 << 20
	maxInflight   = 16
	// maxLinger bounds how long a batch waits to grow while entries are in flight.
	maxLinger = 2 * time.Millisecond
)

type proposal struct {
	cmd []byte // the encoded raftpb.Command, copied as is into its entry
	// Pending is what the submitter waits on (its done channel is answered here): one
	// allocation for both, the proposal lives exactly as long as its wait anyway.
	Pending
}

type proposalResult struct {
	res state.Result
	err error
}

type inflight struct {
	future raft.ApplyFuture
	props  []*proposal
}

// proposer coalesces concurrent commands into one Raft entry (group commit): while one
// entry is being handed to Raft, the commands arriving meanwhile queue up and go together
// in the next. Raft itself pipelines entries, so several can be in flight at once.
type proposer struct {
	r        *raft.Raft
	in       chan *proposal
	inflight chan inflight
	stop     chan struct{}
	now      func() int64
	// format is the log format of the next entry (log_format.go); nil: LogFormat.
	format func() uint32
	// dead is closed once Raft has shut down: a future it has not answered by then is
	// never answered.
	dead chan struct{}

	exclusive chan exclusiveOp // operations run with no command in flight (exclusive.go)
	pending   sync.WaitGroup   // entries handed to Raft and not yet answered

	unanswered atomic.Int64  // entries handed to Raft and not yet answered, for batching
	answered   chan struct{} // a signal after each entry's commands are answered
}

// newProposer proposes to r, stamping each entry with now().
func newProposer(r *raft.Raft, now func() int64) *proposer {
	p := &proposer{
		r:        r,
		in:       make(chan *proposal, maxBatch),
		inflight: make(chan inflight, maxInflight),
		stop:     make(chan struct{}),
		dead:     make(chan struct{}),
		now:      now,

		exclusive: make(chan exclusiveOp),
		answered:  make(chan struct{}, 1),
	}
	go p.batchLoop()
	go p.resultLoop()
	return p
}

// Pending is a submitted command whose result is not known yet.
type Pending struct{ done chan proposalResult }

// Wait waits for the result. ctx bounds only the wait: a command handed to Raft cannot be
// withdrawn, so a cancelled caller gets ctx.Err() with the outcome unknown.
func (pd *Pending) Wait(ctx context.Context) (state.Result, error) {
	select {
	case r := <-pd.done:
		return r.res, r.err
	case <-ctx.Done():
		return state.Result{}, ctx.Err()
	}
}

// submit queues one command for the next entry. Commands submitted one after another by
// one goroutine are applied in that order. The command is encoded here, on the caller's
// goroutine, and only once: the entry is its commands' bytes put together (encodeEntry).
func (p *proposer) submit(typ raftpb.Type, payload proto.Message) *Pending {
	pr := &proposal{Pending: Pending{done: make(chan proposalResult, 1)}}
	b, err := encodeCommand(typ, payload)
	if err != nil {
		pr.done <- proposalResult{err: err}
		return &pr.Pending
	}
	pr.cmd = b
	select {
	case p.in <- pr:
	case <-p.stop:
		pr.done <- proposalResult{err: ErrShutdown}
	}
	return &pr.Pending
}

func (p *proposer) batchLoop() {
	defer close(p.inflight)
	for {
		var first *proposal
		select {
		case first = <-p.in:
		case op := <-p.exclusive:
			p.runExclusive(op)
			continue
		case <-p.stop:
			return
		}
		batch := []*proposal{first}
		size := len(first.cmd)
	drain:
		for len(batch) < maxBatch && size < maxBatchBytes {
			select {
			case pr := <-p.in:
				batch = append(batch, pr)
				size += len(pr.cmd)
			default:
				break drain
			}
		}
		if p.unanswered.Load() > 0 && len(batch) < maxBatch && size < maxBatchBytes {
			// Entries are in flight: Raft is busy with them, so let this batch grow until
			// one of them is answered, the batch is full or maxLinger passed.
			select {
			case <-p.answered: // a stale signal: only entries answered from now on count
			default:
			}
			linger := time.NewTimer(maxLinger)
		grow:
			for len(batch) < maxBatch && size < maxBatchBytes {
				select {
				case pr := <-p.in:
					batch = append(batch, pr)
					size += len(pr.cmd)
				case <-p.answered:
					break grow
				case <-linger.C:
					break grow
				case <-p.stop:
					linger.Stop()
					failAll(batch, ErrShutdown)
					return
				}
			}
			linger.Stop()
		}
		if p.format != nil && p.format() < LogFormatBody {
			if batch, size = toEnvelopes(batch); len(batch) == 0 {
				continue
			}
		}
		f := p.r.Apply(encodeEntry(p.now(), batch, size), 0)
		observeEntry(len(batch))
		p.pending.Add(1)
		p.unanswered.Add(1)
		select {
		case p.inflight <- inflight{future: f, props: batch}:
		case <-p.stop:
			p.pending.Done()
			p.unanswered.Add(-1)
			failAll(batch, ErrShutdown)
			return
		}
	}
}

func (p *proposer) resultLoop() {
	for in := range p.inflight {
		p.deliver(in)
		p.pending.Done()
		p.unanswered.Add(-1)
		select {
		case p.answered <- struct{}{}:
		default:
		}
	}
}

// deliver answers every command of one entry.
func (p *proposer) deliver(in inflight) {
	err := awaitFuture(in.future, p.dead)
	if errors.Is(err, ErrShutdown) {
		// Raft stopped without answering: the entry may or may not be in a log that a
		// quorum keeps.
		failAll(in.props, ErrOutcomeUnknown)
		return
	}
	if err != nil {
		failAll(in.props, applyError(err))
		return
	}
	switch resp := in.future.Response().(type) {
	case []state.Result:
		for i, pr := range in.props {
			pr.done <- proposalResult{res: resp[i]}
		}
	case *apierr.Error:
		failAll(in.props, resp)
	default:
		failAll(in.props, errors.New("unexpected apply response"))
	}
}

// applyError classifies a Raft apply error: did the command provably not execute?
func applyError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout),
		errors.Is(err, raft.ErrLeadershipTransferInProgress): // refused before it was appended
		return ErrNotLeader
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	default: // raft.ErrLeadershipLost and anything else: it may have been committed.
		return ErrOutcomeUnknown
	}
}

func failAll(batch []*proposal, err error) {
	for _, pr := range batch {
		pr.done <- proposalResult{err: err}
	}
}

func (p *proposer) close() { close(p.stop) }

// raftStopped ends the waits for entries Raft will never answer (after Raft's shutdown).
func (p *proposer) raftStopped() { close(p.dead) }
