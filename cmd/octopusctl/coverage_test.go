package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// restCommands maps every RPC of the REST API (api/http.yaml) to the octopusctl command
// that performs it.
var restCommands = map[string]string{
	"ManagementService.CreateQueue":            "queue create",
	"ManagementService.ListQueues":             "queue list",
	"ManagementService.DeleteQueue":            "queue delete",
	"ManagementService.PauseQueue":             "queue pause",
	"ManagementService.ResumeQueue":            "queue resume",
	"ManagementService.ResizeQueue":            "queue resize",
	"StorageManagementService.CreateStorage":   "storage create",
	"StorageManagementService.ListStorages":    "storage list",
	"StorageManagementService.DeleteStorage":   "storage delete",
	"ClusterService.GetCluster":                "cluster status",
	"ClusterService.AddMember":                 "cluster add",
	"ClusterService.RemoveMember":              "cluster remove",
	"ClusterService.TransferLeadership":        "cluster transfer",
	"QueueDataService.EnqueueItems":            "queue enqueue",
	"QueueDataService.PullItems":               "queue pull",
	"QueueDataService.CommitItems":             "queue commit",
	"QueueDataService.RequeueItems":            "queue requeue",
	"QueueDataService.DeleteItems":             "queue delete-items",
	"QueueDataService.ExtendItems":             "queue extend",
	"QueueDataService.GetQueue":                "queue get",
	"QueueDataService.PeekItems":               "queue peek",
	"QueueDataService.PurgeQueue":              "queue purge",
	"QueueDataService.RedriveQueue":            "queue dlq redrive",
	"QueueDataService.GetQueueStats":           "queue stats",
	"StorageDataService.PutKey":                "kv set",
	"StorageDataService.GetKey":                "kv get",
	"StorageDataService.DeleteKey":             "kv delete",
	"StorageDataService.ListKeys":              "kv list",
	"StorageDataService.LockKey":               "kv lock",
	"StorageDataService.LockAnyKey":            "kv lock", // --any
	"StorageDataService.ReleaseKey":            "kv release",
	"backup GET /v1/cluster/snapshot":          "snapshot save",
	"backup POST /v1/cluster/snapshot:restore": "snapshot restore",
}

// TestEveryRESTRouteHasACommand: octopusctl manages everything the REST API can. Every
// RPC mapped in api/http.yaml (and the backup routes) has a command, and it exists.
func TestEveryRESTRouteHasACommand(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "api", "http.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sels := regexp.MustCompile(`selector: [\w.]+\.(\w+\.\w+)`).FindAllStringSubmatch(string(b), -1)
	if len(sels) < 25 {
		t.Fatalf("found %d selectors in api/http.yaml", len(sels))
	}
	for _, m := range sels {
		if _, ok := restCommands[m[1]]; !ok {
			t.Errorf("REST RPC %s has no octopusctl command: add one and list it in restCommands", m[1])
		}
	}
	root := newRoot()
	for rpc, path := range restCommands {
		c, rest, err := root.Find(strings.Fields(path))
		if err != nil || len(rest) > 0 || c.CommandPath() != "octopusctl "+path {
			t.Errorf("%s: command %q not found (%v, left %v)", rpc, path, err, rest)
		}
	}
}
