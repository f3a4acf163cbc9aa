// Package chaostest is OctopusMQ's fault-injection suite: real octopusmq processes (started
// by server/clustertest) serve queue, key-value and lock workloads through Go stream clients
// and REST on every node, while a nemesis kills nodes with SIGKILL, stops and continues them
// (SIGSTOP/SIGCONT), restarts the whole cluster, rolls restarts, removes and re-adds a member
// and cuts Raft links. Links are cut by TCP proxies (Net): every node advertises its proxy's
// address as its Raft address, so partitions need no root.
//
// After the run the suite checks that no acknowledged enqueue was lost, no item was
// committed twice, no committed item was delivered again, the key-value history is
// linearizable (porcupine, a register per key; writes with an unknown outcome are
// open-ended operations), fencing tokens rise with real time and no stale token is
// accepted. It prints a summary (operations, violations, the largest client stall, every
// stall of 2 s or more counted by cause, the largest described attempt by attempt next to
// the faults) and fails on any violation.
//
// Running it:
//
//	OCTOPUSMQ_CHAOS=short go test -run TestChaos ./server/chaostest/   # about a minute (CI)
//	go test -tags chaos -timeout 30m ./server/chaostest/...            # long: 5 minutes
//	OCTOPUSMQ_CHAOS_DURATION=20m go test -tags chaos -timeout 60m ./server/chaostest/...
//	OCTOPUSMQ_CHAOS_FAULTS=kill-follower,pause-leader OCTOPUSMQ_CHAOS_LOGS=/tmp/logs ...  # some kinds; keep logs
//
// Without the tag and without OCTOPUSMQ_CHAOS the process-level test is skipped; the
// checkers' and the proxy's own tests always run.
package chaostest
