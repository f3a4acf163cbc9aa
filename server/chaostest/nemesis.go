package chaostest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/server/clustertest"
)

// Nemesis injects faults into a running cluster, one at a time, and repairs each before
// the next.
type Nemesis struct {
	c   *clustertest.Cluster
	net *Net
	r   *Report
	// hold is how long a fault lasts before it is repaired.
	hold time.Duration
	// recover bounds the wait for an agreed leader after a repair.
	recover time.Duration
	// faults are the kinds injected (nil: Faults).
	faults []Fault
}

// Fault is one kind of fault: it breaks something, waits, and repairs it.
type Fault struct {
	Name string
	Run  func(n *Nemesis)
}

// Faults are every kind of fault the nemesis knows.
var Faults = []Fault{
	{"kill-leader", (*Nemesis).killLeader},
	{"kill-follower", (*Nemesis).killFollower},
	{"pause-leader", (*Nemesis).pauseLeader},
	{"isolate-leader", func(n *Nemesis) { n.isolateLeader(false) }},
	{"blackhole-leader", func(n *Nemesis) { n.isolateLeader(true) }},
	{"cut-link", (*Nemesis).cutLink},
	{"restart-all", (*Nemesis).restartAll},
	{"rolling-restart", (*Nemesis).rollingRestart},
	{"remove-readd", (*Nemesis).removeReadd},
}

func (n *Nemesis) leader() *clustertest.Node { return n.c.WaitLeader(n.recover) }

func (n *Nemesis) sleep() { time.Sleep(n.hold) }

func (n *Nemesis) killLeader() {
	l := n.leader()
	n.r.Fault("kill -9 leader " + l.ID)
	n.c.Kill(l)
	n.sleep()
	n.restart(l)
}

func (n *Nemesis) killFollower() {
	f := n.c.Follower(n.leader())
	n.r.Fault("kill -9 follower " + f.ID)
	n.c.Kill(f)
	n.sleep()
	n.restart(f)
}

// restart restarts a killed node and records it.
func (n *Nemesis) restart(node *clustertest.Node) {
	n.c.Restart(node)
	n.r.Repaired("restarted " + node.ID)
}

func (n *Nemesis) heal() {
	n.net.Heal()
	n.r.Repaired("network healed")
}

func (n *Nemesis) pauseLeader() {
	l := n.leader()
	n.r.Fault("SIGSTOP leader " + l.ID)
	n.c.Pause(l)
	n.sleep()
	n.c.Resume(l)
	n.r.Repaired("SIGCONT " + l.ID)
}

func (n *Nemesis) isolateLeader(blackhole bool) {
	l := n.leader()
	how := "drop"
	if blackhole {
		how = "blackhole"
	}
	n.r.Fault(fmt.Sprintf("isolate leader %s (%s)", l.ID, how))
	n.net.SetBlackhole(blackhole)
	n.net.Isolate(l.ID)
	n.sleep()
	n.heal()
}

// cutLink cuts the link between the leader and one follower: the follower can still reach
// the other follower (a bridge).
func (n *Nemesis) cutLink() {
	l := n.leader()
	f := n.c.Follower(l)
	n.r.Fault(fmt.Sprintf("cut link %s-%s", l.ID, f.ID))
	n.net.SetBlackhole(false)
	n.net.Cut(l.ID, f.ID)
	n.sleep()
	n.heal()
}

func (n *Nemesis) restartAll() {
	n.r.Fault("kill -9 all, restart all")
	nodes := n.c.Running()
	for _, node := range nodes {
		n.c.Kill(node)
	}
	for _, node := range nodes {
		n.restart(node)
	}
}

func (n *Nemesis) rollingRestart() {
	n.r.Fault("rolling restart (SIGTERM)")
	for _, node := range n.c.Running() {
		n.c.Stop(node, 10*time.Second)
		n.restart(node)
		n.leader()
	}
}

// removeReadd removes a follower from the configuration, stops it, adds it back and
// restarts it with its data.
func (n *Nemesis) removeReadd() {
	l := n.leader()
	f := n.c.Follower(l)
	n.r.Fault("remove and re-add " + f.ID)
	admin, err := client.NewAdminClient(l.Addr)
	if err != nil {
		n.r.Violation("admin client: %v", err)
		return
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*n.recover)
	defer cancel()
	removeErr := admin.RemoveMember(ctx, f.ID)
	n.c.Kill(f)
	n.sleep()
	if removeErr != nil {
		// The leader may have changed meanwhile: the outcome is unknown, the node stays.
		n.r.Fault("(remove " + f.ID + ": " + removeErr.Error() + ")")
	} else if err := admin.AddMember(ctx, f.ID, f.RaftAdvertise, f.Addr, false); err != nil {
		n.r.Violation("re-adding %s: %v", f.ID, err)
	}
	n.restart(f)
}

// SelectFaults returns the kinds named in the comma-separated list names.
func SelectFaults(names string) ([]Fault, error) {
	var out []Fault
	for _, name := range strings.Split(names, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(Faults, func(f Fault) bool { return f.Name == name })
		if i < 0 {
			var known []string
			for _, f := range Faults {
				known = append(known, f.Name)
			}
			return nil, fmt.Errorf("unknown fault %q (known: %s)", name, strings.Join(known, ", "))
		}
		out = append(out, Faults[i])
	}
	return out, nil
}

// Repair ends every fault: all links heal and every node runs.
func (n *Nemesis) Repair() {
	n.net.Heal()
	for _, node := range n.c.Nodes {
		found := false
		for _, r := range n.c.Running() {
			if r == node {
				found = true
			}
		}
		if !found {
			n.c.Restart(node)
		} else {
			n.c.Resume(node)
		}
	}
	n.leader()
}

// Run injects every kind of fault once, in order (so even a short run sees each kind),
// then random kinds until the deadline.
func (n *Nemesis) Run(deadline time.Time) {
	faults := n.faults
	if len(faults) == 0 {
		faults = Faults
	}
	for i := 0; i < len(faults) || time.Now().Before(deadline); i++ {
		f := faults[i%len(faults)]
		if i >= len(faults) {
			f = faults[rand.IntN(len(faults))]
		}
		f.Run(n)
		n.leader() // the cluster recovers before the next fault
		// Let the workloads make progress between faults.
		time.Sleep(n.hold / 2)
	}
}
