package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	relayStreams = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "octopusmq_relay_streams_total", Help: "Client streams this node (a follower) relayed to the leader, by service (queue, storage).",
	}, []string{"service"})
	relayCommands = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "octopusmq_relay_commands_total", Help: "Commands received on relayed streams and passed to the leader, by service.",
	}, []string{"service"})
	relaySwitches = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "octopusmq_relay_leader_switches_total",
		Help: "Relayed streams whose upstream leader was lost or stepped down, by service and result: transparent (re-opened on the new leader) or ended (LEADER_SWITCH answers and the stream ended).",
	}, []string{"service", "result"})
)
