package auth

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/managementpb"
	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
)

// need is what a call requires.
type need int

const (
	// needAdmin: management, cluster changes, backups, and any method not listed.
	needAdmin need = iota
	// needAny: any authenticated caller (read-only listing: queues, storages, cluster
	// status, metrics).
	needAny
	// needProducer, needConsumer: that role on the named queue.
	needProducer
	needConsumer
	// needQueue: producer or consumer on the named queue (queue info, stream setup).
	needQueue
	// needKV: kv on the named storage.
	needKV
	// needNothing: open to everyone (health, reflection).
	needNothing
)

// methods is the one table of what each gRPC method requires (REST routes are these
// methods through the gateway). Methods not listed need admin.
var methods = map[string]need{
	managementpb.ManagementService_CreateQueue_FullMethodName:          needAdmin,
	managementpb.ManagementService_ResizeQueue_FullMethodName:          needAdmin,
	managementpb.ManagementService_DeleteQueue_FullMethodName:          needAdmin,
	managementpb.ManagementService_PauseQueue_FullMethodName:           needAdmin,
	managementpb.ManagementService_ResumeQueue_FullMethodName:          needAdmin,
	managementpb.ManagementService_ListQueues_FullMethodName:           needAny,
	managementpb.StorageManagementService_CreateStorage_FullMethodName: needAdmin,
	managementpb.StorageManagementService_DeleteStorage_FullMethodName: needAdmin,
	managementpb.StorageManagementService_ListStorages_FullMethodName:  needAny,
	octopusmqv1.ClusterService_GetCluster_FullMethodName:               needAny,
	octopusmqv1.ClusterService_AddMember_FullMethodName:                needAdmin,
	octopusmqv1.ClusterService_RemoveMember_FullMethodName:             needAdmin,
	octopusmqv1.ClusterService_TransferLeadership_FullMethodName:       needAdmin,
	octopusmqv1.QueueDataService_EnqueueItems_FullMethodName:           needProducer,
	octopusmqv1.QueueDataService_PullItems_FullMethodName:              needConsumer,
	octopusmqv1.QueueDataService_CommitItems_FullMethodName:            needConsumer,
	octopusmqv1.QueueDataService_RequeueItems_FullMethodName:           needConsumer,
	octopusmqv1.QueueDataService_DeleteItems_FullMethodName:            needConsumer,
	octopusmqv1.QueueDataService_ExtendItems_FullMethodName:            needConsumer,
	octopusmqv1.QueueDataService_GetQueue_FullMethodName:               needQueue,
	octopusmqv1.QueueDataService_PeekItems_FullMethodName:              needConsumer,
	octopusmqv1.QueueDataService_GetQueueStats_FullMethodName:          needQueue,
	octopusmqv1.QueueDataService_PurgeQueue_FullMethodName:             needAdmin,
	octopusmqv1.QueueDataService_RedriveQueue_FullMethodName:           needAdmin,
	octopusmqv1.StorageDataService_PutKey_FullMethodName:               needKV,
	octopusmqv1.StorageDataService_GetKey_FullMethodName:               needKV,
	octopusmqv1.StorageDataService_DeleteKey_FullMethodName:            needKV,
	octopusmqv1.StorageDataService_ListKeys_FullMethodName:             needKV,
	octopusmqv1.StorageDataService_LockKey_FullMethodName:              needKV,
	octopusmqv1.StorageDataService_LockAnyKey_FullMethodName:           needKV,
	octopusmqv1.StorageDataService_ReleaseKey_FullMethodName:           needKV,
	grpcpb.QueuesService_Connect_FullMethodName:                        needQueue,
	grpcpb.StorageService_StorageConnect_FullMethodName:                needKV,
	"/grpc.health.v1.Health/Check":                                     needNothing,
	"/grpc.health.v1.Health/Watch":                                     needNothing,
	"/grpc.health.v1.Health/List":                                      needNothing,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":        needNothing,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo":   needNothing,
}

// audited lists the methods the audit log records (with the backup routes).
var audited = map[string]bool{
	managementpb.ManagementService_CreateQueue_FullMethodName:          true,
	managementpb.ManagementService_ResizeQueue_FullMethodName:          true,
	managementpb.ManagementService_DeleteQueue_FullMethodName:          true,
	managementpb.ManagementService_PauseQueue_FullMethodName:           true,
	managementpb.ManagementService_ResumeQueue_FullMethodName:          true,
	octopusmqv1.QueueDataService_PurgeQueue_FullMethodName:             true,
	octopusmqv1.QueueDataService_RedriveQueue_FullMethodName:           true,
	managementpb.StorageManagementService_CreateStorage_FullMethodName: true,
	managementpb.StorageManagementService_DeleteStorage_FullMethodName: true,
	octopusmqv1.ClusterService_AddMember_FullMethodName:                true,
	octopusmqv1.ClusterService_RemoveMember_FullMethodName:             true,
	octopusmqv1.ClusterService_TransferLeadership_FullMethodName:       true,
}

func methodNeed(fullMethod string) need {
	if n, ok := methods[fullMethod]; ok {
		return n
	}
	return needAdmin
}

// allows reports whether the identity holds role on name (admin holds everything).
func (id *Identity) allows(role Role, name string) bool {
	for _, g := range id.grants {
		if g.Role == RoleAdmin || (g.Role == role && strings.HasPrefix(name, g.Prefix)) {
			return true
		}
	}
	return false
}

// check answers nil when the identity may make a call needing n on name, else
// PermissionDenied naming the missing permission.
func (id *Identity) check(n need, name string) error {
	var ok bool
	var missing string
	switch n {
	case needNothing:
		return nil
	case needAny:
		return nil
	case needAdmin:
		ok, missing = id.allows(RoleAdmin, ""), "admin"
	case needProducer:
		ok, missing = id.allows(RoleProducer, name), fmt.Sprintf("producer on queue %q", name)
	case needConsumer:
		ok, missing = id.allows(RoleConsumer, name), fmt.Sprintf("consumer on queue %q", name)
	case needQueue:
		ok = id.allows(RoleProducer, name) || id.allows(RoleConsumer, name)
		missing = fmt.Sprintf("producer or consumer on queue %q", name)
	case needKV:
		ok, missing = id.allows(RoleKV, name), fmt.Sprintf("kv on storage %q", name)
	}
	if ok {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "permission denied: %s required (caller %q has %s)", missing, id.Name, id.grantList())
}

func (id *Identity) grantList() string {
	if len(id.grants) == 0 {
		return "no roles"
	}
	s := make([]string, len(id.grants))
	for i, g := range id.grants {
		s[i] = g.String()
	}
	return strings.Join(s, ",")
}

// resourceOf is the queue or storage a request names.
func resourceOf(req any) string {
	switch r := req.(type) {
	case interface{ GetQueueName() string }:
		return r.GetQueueName()
	case interface{ GetStorageName() string }:
		return r.GetStorageName()
	}
	return ""
}
