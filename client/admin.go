package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/clbs-io/octopusmq/gen/managementpb"
	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
	"github.com/clbs-io/octopusmq/gen/pb"
)

// QueueConfig describes a queue to create.
type QueueConfig struct {
	// Name: 1–200 characters of [A-Za-z0-9._-].
	Name string
	// Priorities: priority levels 1–32; 0 means 32.
	Priorities uint32
	// MaxSize bounds waiting + active items; 0 = unlimited.
	MaxSize uint32
	// Lease is how long a pulled item stays leased; 0: 60 s.
	Lease time.Duration
	// MaxDeliveries: deliveries after which an item is dead-lettered; 0 = unlimited.
	MaxDeliveries uint32
	// DeadLetterQueue receives dead-lettered and expired items; it must exist.
	DeadLetterQueue string
}

// QueueDetails describes an existing queue.
type QueueDetails struct {
	Name       string
	Priorities uint32
	MaxSize    uint32
	// Count is waiting + active items; Active the pulled, not yet committed ones.
	Count, Active   uint32
	Paused          bool
	Lease           time.Duration
	MaxDeliveries   uint32
	DeadLetterQueue string
}

// StorageDetails describes an existing storage.
type StorageDetails struct {
	Name string
	// Count is the number of keys, Active of locked keys.
	Count, Active uint32
}

// ClusterStatus is the cluster as the answering node sees it.
type ClusterStatus struct {
	Members []Member
	// NodeID is the answering node; State its Raft state (Leader, Follower, Candidate,
	// Shutdown).
	NodeID, State                            string
	Term, LastLogIndex, CommitIndex, Applied uint64
	// LeaderID is empty while there is no leader.
	LeaderID string
}

// Member is one Raft server.
type Member struct {
	ID            string
	RaftAddress   string
	ClientAddress string
	Voter         bool
	Leader        bool
}

// AdminClient manages queues, storages and the cluster through the unary management
// services. It is safe for concurrent use.
type AdminClient struct {
	o     *options
	addrs []string

	mu     sync.Mutex
	closed bool
	conns  map[string]*grpc.ClientConn
	idx    int
	leader string
}

// NewAdminClient returns a management client of target ("host:port", or several separated
// by commas). It does not connect until the first call.
func NewAdminClient(target string, opts ...Option) (*AdminClient, error) {
	addrs, err := splitTarget(target)
	if err != nil {
		return nil, err
	}
	return &AdminClient{o: buildOptions(opts), addrs: addrs, conns: make(map[string]*grpc.ClientConn)}, nil
}

// Close closes the connections.
func (a *AdminClient) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	conns := a.conns
	a.conns = nil
	a.mu.Unlock()
	var errs []error
	for _, cc := range conns {
		if err := releaseConn(cc); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pick returns the connection to the node to call.
func (a *AdminClient) pick() (*grpc.ClientConn, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, "", ErrClosed
	}
	addr := a.leader
	if addr == "" {
		addr = a.addrs[a.idx]
	}
	if cc := a.conns[addr]; cc != nil {
		return cc, addr, nil
	}
	cc, err := acquireConn(addr, a.o)
	if err != nil {
		return nil, "", err
	}
	a.conns[addr] = cc
	return cc, addr, nil
}

// invoke runs fn against a node. It follows "LEADER_SWITCH <addr>" answers (the call was
// not executed) and, when a node is unreachable, moves on to the next address — retrying at
// once only when retry is set (the call is safe to repeat).
func (a *AdminClient) invoke(ctx context.Context, retry bool, fn func(cc *grpc.ClientConn) error) error {
	hops, tries := 0, 0
	for {
		cc, addr, err := a.pick()
		if err != nil {
			return err
		}
		err = fn(cc)
		if err == nil {
			return nil
		}
		if hint, ok := leaderHint(err); ok && hops < maxLeaderHops {
			hops++
			a.mu.Lock()
			a.leader = hint
			a.mu.Unlock()
			continue
		}
		if status.Code(err) == codes.Unavailable && ctx.Err() == nil {
			a.mu.Lock()
			if a.leader == addr {
				a.leader = ""
			} else if a.addrs[a.idx] == addr {
				a.idx = (a.idx + 1) % len(a.addrs)
			}
			a.mu.Unlock()
			if tries++; retry && tries < len(a.addrs)+1 {
				continue
			}
		}
		return fromRPC(err)
	}
}

func (a *AdminClient) mgmt(ctx context.Context, retry bool, fn func(managementpb.ManagementServiceClient) error) error {
	return a.invoke(ctx, retry, func(cc *grpc.ClientConn) error { return fn(managementpb.NewManagementServiceClient(cc)) })
}

func (a *AdminClient) smgmt(ctx context.Context, retry bool, fn func(managementpb.StorageManagementServiceClient) error) error {
	return a.invoke(ctx, retry, func(cc *grpc.ClientConn) error {
		return fn(managementpb.NewStorageManagementServiceClient(cc))
	})
}

func (a *AdminClient) cluster(ctx context.Context, retry bool, fn func(octopusmqv1.ClusterServiceClient) error) error {
	return a.invoke(ctx, retry, func(cc *grpc.ClientConn) error { return fn(octopusmqv1.NewClusterServiceClient(cc)) })
}

// CreateQueue creates a queue; ErrQueueAlreadyExists when the name is taken,
// ErrInvalidArgument for a bad configuration.
func (a *AdminClient) CreateQueue(ctx context.Context, cfg QueueConfig) error {
	req := &pb.CreateQueueRequest{
		QueueName: cfg.Name, Priorities: cfg.Priorities, MaxSize: cfg.MaxSize,
		MaxDeliveries: cfg.MaxDeliveries, DeadLetterQueue: cfg.DeadLetterQueue,
	}
	if cfg.Lease > 0 {
		req.Lease = durationpb.New(cfg.Lease)
	}
	return a.mgmt(ctx, false, func(c managementpb.ManagementServiceClient) error {
		_, err := c.CreateQueue(ctx, req)
		return err
	})
}

// EnsureQueue creates the queue unless it exists (an existing queue is left as it is).
func (a *AdminClient) EnsureQueue(ctx context.Context, cfg QueueConfig) error {
	if err := a.CreateQueue(ctx, cfg); err != nil && !errors.Is(err, ErrAlreadyExists) {
		return err
	}
	return nil
}

// DeleteQueue deletes a queue and its items; ErrQueueNotFound when it does not exist.
func (a *AdminClient) DeleteQueue(ctx context.Context, name string) error {
	return a.mgmt(ctx, false, func(c managementpb.ManagementServiceClient) error {
		_, err := c.DeleteQueue(ctx, &pb.DeleteQueueRequest{QueueName: name})
		return err
	})
}

// ListQueues lists every queue, ordered by name.
func (a *AdminClient) ListQueues(ctx context.Context) ([]QueueDetails, error) {
	var resp *pb.ListQueuesResponse
	err := a.mgmt(ctx, true, func(c managementpb.ManagementServiceClient) (err error) {
		resp, err = c.ListQueues(ctx, &emptypb.Empty{})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]QueueDetails, 0, len(resp.GetQueues()))
	for _, q := range resp.GetQueues() {
		out = append(out, QueueDetails{
			Name: q.GetQueueName(), Priorities: q.GetPriorities(), MaxSize: q.GetMaxSize(),
			Count: q.GetCount(), Active: q.GetActive(), Paused: q.GetPaused(),
			Lease: q.GetLease().AsDuration(), MaxDeliveries: q.GetMaxDeliveries(),
			DeadLetterQueue: q.GetDeadLetterQueue(),
		})
	}
	return out, nil
}

// PauseQueue stops deliveries: pulls wait, then fail with ErrQueuePaused. Idempotent.
func (a *AdminClient) PauseQueue(ctx context.Context, name string) error {
	return a.mgmt(ctx, true, func(c managementpb.ManagementServiceClient) error {
		_, err := c.PauseQueue(ctx, &pb.PauseQueueRequest{QueueName: name})
		return err
	})
}

// ResumeQueue resumes deliveries. Idempotent.
func (a *AdminClient) ResumeQueue(ctx context.Context, name string) error {
	return a.mgmt(ctx, true, func(c managementpb.ManagementServiceClient) error {
		_, err := c.ResumeQueue(ctx, &pb.ResumeQueueRequest{QueueName: name})
		return err
	})
}

// ResizeQueue changes max_size (0 = unlimited); ErrFailedPrecondition below the current
// count.
func (a *AdminClient) ResizeQueue(ctx context.Context, name string, maxSize uint32) error {
	return a.mgmt(ctx, true, func(c managementpb.ManagementServiceClient) error {
		_, err := c.ResizeQueue(ctx, &pb.ResizeQueueRequest{QueueName: name, MaxSize: maxSize})
		return err
	})
}

// CreateStorage creates a storage; ErrStorageAlreadyExists when the name is taken.
func (a *AdminClient) CreateStorage(ctx context.Context, name string) error {
	return a.smgmt(ctx, false, func(c managementpb.StorageManagementServiceClient) error {
		_, err := c.CreateStorage(ctx, &pb.CreateStorageRequest{StorageName: name})
		return err
	})
}

// EnsureStorage creates the storage unless it exists.
func (a *AdminClient) EnsureStorage(ctx context.Context, name string) error {
	if err := a.CreateStorage(ctx, name); err != nil && !errors.Is(err, ErrAlreadyExists) {
		return err
	}
	return nil
}

// DeleteStorage deletes a storage and its keys; ErrStorageNotFound when it does not exist.
func (a *AdminClient) DeleteStorage(ctx context.Context, name string) error {
	return a.smgmt(ctx, false, func(c managementpb.StorageManagementServiceClient) error {
		_, err := c.DeleteStorage(ctx, &pb.DeleteStorageRequest{StorageName: name})
		return err
	})
}

// ListStorages lists every storage, ordered by name.
func (a *AdminClient) ListStorages(ctx context.Context) ([]StorageDetails, error) {
	var resp *pb.ListStoragesResponse
	err := a.smgmt(ctx, true, func(c managementpb.StorageManagementServiceClient) (err error) {
		resp, err = c.ListStorages(ctx, &emptypb.Empty{})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]StorageDetails, 0, len(resp.GetStorages()))
	for _, s := range resp.GetStorages() {
		out = append(out, StorageDetails{Name: s.GetStorageName(), Count: s.GetCount(), Active: s.GetActive()})
	}
	return out, nil
}

// Cluster reports the cluster's members and the answering node's Raft state.
func (a *AdminClient) Cluster(ctx context.Context) (*ClusterStatus, error) {
	var resp *octopusmqv1.GetClusterResponse
	err := a.cluster(ctx, true, func(c octopusmqv1.ClusterServiceClient) (err error) {
		resp, err = c.GetCluster(ctx, &octopusmqv1.GetClusterRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	cs := &ClusterStatus{
		NodeID: resp.GetNodeId(), State: resp.GetState(), Term: resp.GetTerm(),
		LastLogIndex: resp.GetLastLogIndex(), CommitIndex: resp.GetCommitIndex(),
		Applied: resp.GetAppliedIndex(), LeaderID: resp.GetLeaderId(),
	}
	for _, m := range resp.GetMembers() {
		cs.Members = append(cs.Members, Member{
			ID: m.GetId(), RaftAddress: m.GetRaftAddress(), ClientAddress: m.GetClientAddress(),
			Voter: m.GetVoter(), Leader: m.GetLeader(),
		})
	}
	return cs, nil
}

// AddMember adds a voter (or, with nonVoter, a non-voter) to the cluster.
func (a *AdminClient) AddMember(ctx context.Context, id, raftAddress, clientAddress string, nonVoter bool) error {
	return a.cluster(ctx, false, func(c octopusmqv1.ClusterServiceClient) error {
		_, err := c.AddMember(ctx, &octopusmqv1.AddMemberRequest{
			Id: id, RaftAddress: raftAddress, ClientAddress: clientAddress, NonVoter: nonVoter,
		})
		return err
	})
}

// RemoveMember removes a member by id.
func (a *AdminClient) RemoveMember(ctx context.Context, id string) error {
	return a.cluster(ctx, false, func(c octopusmqv1.ClusterServiceClient) error {
		_, err := c.RemoveMember(ctx, &octopusmqv1.RemoveMemberRequest{Id: id})
		return err
	})
}

// TransferLeadership hands leadership to the voter id (empty: the most up-to-date one).
func (a *AdminClient) TransferLeadership(ctx context.Context, id string) error {
	return a.cluster(ctx, false, func(c octopusmqv1.ClusterServiceClient) error {
		_, err := c.TransferLeadership(ctx, &octopusmqv1.TransferLeadershipRequest{Id: id})
		return err
	})
}
