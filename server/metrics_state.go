package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// Queue, lock and Raft series of the state collector (see stateCollector). Per-queue series
// exist for the --metrics-top largest queues only; the per-priority series of a queue exist
// only for the priorities holding waiting items (Prometheus marks a series that disappears
// stale at once, so a drained priority does not linger).
var (
	descQueueWaiting = prometheus.NewDesc("octopusmq_queue_waiting_items",
		"Waiting items (visible or delayed) in a queue by priority; the queues of octopusmq_queue_items, priorities holding items only.", []string{"queue", "priority"}, nil)
	descQueueDelayed = prometheus.NewDesc("octopusmq_queue_delayed_items",
		"Waiting items not yet visible (delay) in a queue; the queues of octopusmq_queue_items.", []string{"queue"}, nil)
	descQueueOldest = prometheus.NewDesc("octopusmq_queue_oldest_waiting_age_seconds",
		"Age of the oldest waiting item of a queue (0: none waiting); the queues of octopusmq_queue_items.", []string{"queue"}, nil)
	descDLQItems = prometheus.NewDesc("octopusmq_dead_letter_queue_items",
		"Items in a queue that is the dead-letter queue of another; the queues of octopusmq_queue_items.", []string{"queue"}, nil)
	descQueuesDelayed = prometheus.NewDesc("octopusmq_queues_delayed_items", "Delayed (not yet visible) items in all queues.", nil, nil)
	descQueuesOldest  = prometheus.NewDesc("octopusmq_queues_oldest_waiting_age_seconds",
		"Age of the oldest waiting item among the queues of octopusmq_queue_items (0: none waiting).", nil, nil)

	descRedelivered  = prometheus.NewDesc("octopusmq_queue_redeliveries_total", "Items pulled again after an earlier delivery (lease end, requeue, session end), as applied on this node.", nil, nil)
	descExpired      = prometheus.NewDesc("octopusmq_queue_expired_total", "Items removed because their ttl passed, as applied on this node.", nil, nil)
	descDeadLettered = prometheus.NewDesc("octopusmq_queue_dead_lettered_total", "Items moved to a dead-letter queue (max deliveries or ttl), as applied on this node.", nil, nil)
	descDeadDropped  = prometheus.NewDesc("octopusmq_queue_dead_dropped_total", "Dead items (max deliveries or ttl) dropped for want of a dead-letter queue, as applied on this node.", nil, nil)
	descLockGrants   = prometheus.NewDesc("octopusmq_lock_grants_total", "Key locks granted (lock_key, lock_any), as applied on this node.", nil, nil)

	descTerm         = prometheus.NewDesc("octopusmq_raft_term", "Current Raft term of this node.", nil, nil)
	descCommit       = prometheus.NewDesc("octopusmq_raft_commit_index", "Raft commit index known to this node.", nil, nil)
	descLastLog      = prometheus.NewDesc("octopusmq_raft_last_log_index", "Last Raft log index stored on this node.", nil, nil)
	descLastSnapshot = prometheus.NewDesc("octopusmq_raft_last_snapshot_index", "Raft index of this node's last snapshot.", nil, nil)
	descHasLeader    = prometheus.NewDesc("octopusmq_raft_has_leader", "1 when this node knows a leader.", nil, nil)
	descLastContact  = prometheus.NewDesc("octopusmq_raft_last_contact_seconds",
		"Time since this node last heard from the leader (0 on the leader; absent before any contact).", nil, nil)
	descFollowerContact = prometheus.NewDesc("octopusmq_raft_follower_last_contact_seconds",
		"On the leader: time since each follower last answered a heartbeat or an append.", []string{"follower"}, nil)
)

var stateDescs = []*prometheus.Desc{
	descQueueWaiting, descQueueDelayed, descQueueOldest, descDLQItems, descQueuesDelayed, descQueuesOldest,
	descRedelivered, descExpired, descDeadLettered, descDeadDropped, descLockGrants,
	descTerm, descCommit, descLastLog, descLastSnapshot, descHasLeader, descLastContact, descFollowerContact,
}

// collectQueues reports the queue gauges of the top queues (O(priorities + log n) each: see
// queue.Gauges) and the totals and event counters over all of them.
func (c stateCollector) collectQueues(ch chan<- prometheus.Metric, queues, top []*pb.ListQueueItem) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	st := c.s.node.State()
	names := make([]string, len(top))
	for i, q := range top {
		names[i] = q.GetQueueName()
	}
	stats := st.QueueGauges(names)
	isDLQ := map[string]bool{}
	for _, q := range queues {
		if d := q.GetDeadLetterQueue(); d != "" {
			isDLQ[d] = true
		}
	}
	now := time.Now().UnixNano()
	age := func(at int64) float64 {
		if at == 0 || at > now {
			return 0
		}
		return time.Duration(now - at).Seconds()
	}
	var oldest float64
	for _, q := range top {
		name := q.GetQueueName()
		s, ok := stats[name]
		if !ok {
			continue // deleted since listed
		}
		for p, n := range s.Waiting {
			if n > 0 {
				gauge(descQueueWaiting, float64(n), name, strconv.Itoa(p))
			}
		}
		gauge(descQueueDelayed, float64(s.Delayed), name)
		if s.OldestKnown { // false only for a large queue restored out of order (queue.UnorderedScanLimit)
			a := age(s.OldestWaiting)
			oldest = max(oldest, a)
			gauge(descQueueOldest, a, name)
		}
		if isDLQ[name] {
			gauge(descDLQItems, float64(q.GetCount()), name)
		}
	}
	gauge(descQueuesDelayed, float64(st.QueueTotals().Delayed))
	gauge(descQueuesOldest, oldest)

	ev := st.Events()
	counter(descRedelivered, ev.Redelivered)
	counter(descExpired, ev.Expired)
	counter(descDeadLettered, ev.DeadLettered)
	counter(descDeadDropped, ev.DeadDropped)
	counter(descLockGrants, ev.LocksGranted)
}

// collectRaft reports this node's Raft position and, on the leader, its followers' contact.
func (c stateCollector) collectRaft(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	rs := c.s.node.Stats()
	gauge(descTerm, float64(rs.Term))
	gauge(descCommit, float64(rs.CommitIndex))
	gauge(descLastLog, float64(rs.LastLogIndex))
	gauge(descLastSnapshot, float64(rs.LastSnapshotIndex))
	has := 0.0
	if rs.HasLeader {
		has = 1
	}
	gauge(descHasLeader, has)
	if rs.LastContact >= 0 {
		gauge(descLastContact, rs.LastContact.Seconds())
	}
	for id, d := range c.s.node.FollowerContacts() {
		gauge(descFollowerContact, d.Seconds(), id)
	}
}
