package contract

// Wire-contract test: the published OctopusMQ wire protocol (API.md §1, "Wire
// compatibility") transcribed into tables, checked against the descriptors compiled into
// the generated Go code.
//
// The tables are self-contained on purpose: the test never reads API.md. When the contract
// grows, add rows here (and raise the floors in TestContractTablesAreComplete).
//
// What a wire-compatible change may do, per the contract: add NEW field numbers, NEW oneof
// cases, NEW enum values (and new messages, services, methods). What it may not do:
// renumber, rename or retype a listed field, change its cardinality, its proto3 `optional`
// presence or its oneof membership, drop a listed message, enum value or method, or change
// a method's types or streaming flags. Every field listed must exist exactly; fields that
// are not listed are allowed only on numbers the contract does not list, which the
// by-number check enforces (a listed number carrying another name fails).

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/managementpb"
	"github.com/clbs-io/octopusmq/gen/pb"
)

const (
	pkgMessages   = "io.clbs.octopusmq.protobuf"
	pkgGRPC       = "io.clbs.octopusmq.grpc"
	pkgManagement = "io.clbs.octopusmq.grpc.management"

	messagesFile = "protobuf/messages.proto"
	emptyType    = "google.protobuf.Empty"
)

// ---------------------------------------------------------------------------------------
// Contract tables (transcribed from API.md §1).
// ---------------------------------------------------------------------------------------

// fileRow is one row of the "Proto packages and files" table. path is where the file is
// registered (api/ is the buf module root, so the README's file names live under
// protobuf/); desc is the descriptor the generated Go package compiled in.
type fileRow struct {
	name string // file name as API.md gives it
	path string
	pkg  protoreflect.FullName
	desc func() protoreflect.FileDescriptor
}

var contractFiles = []fileRow{
	{"messages.proto", "protobuf/messages.proto", pkgMessages, func() protoreflect.FileDescriptor { return pb.File_protobuf_messages_proto }},
	{"queues.proto", "protobuf/queues.proto", pkgGRPC, func() protoreflect.FileDescriptor { return grpcpb.File_protobuf_queues_proto }},
	{"storage.proto", "protobuf/storage.proto", pkgGRPC, func() protoreflect.FileDescriptor { return grpcpb.File_protobuf_storage_proto }},
	{"queues_management.proto", "protobuf/queues_management.proto", pkgManagement, func() protoreflect.FileDescriptor { return managementpb.File_protobuf_queues_management_proto }},
	{"storage_management.proto", "protobuf/storage_management.proto", pkgManagement, func() protoreflect.FileDescriptor { return managementpb.File_protobuf_storage_management_proto }},
}

type methodRow struct {
	name         protoreflect.Name
	input        protoreflect.FullName
	output       protoreflect.FullName
	clientStream bool
	serverStream bool
}

type serviceRow struct {
	file    string // registered path of the file that must declare the service
	name    protoreflect.FullName
	methods []methodRow
}

// msg is the full name of a message of the io.clbs.octopusmq.protobuf package.
func msg(name string) protoreflect.FullName { return protoreflect.FullName(pkgMessages + "." + name) }

var contractServices = []serviceRow{
	{"protobuf/queues.proto", pkgGRPC + ".QueuesService", []methodRow{
		{"Connect", msg("QueueRequest"), msg("QueueResponse"), true, true},
	}},
	{"protobuf/storage.proto", pkgGRPC + ".StorageService", []methodRow{
		{"StorageConnect", msg("StorageRequest"), msg("StorageResponse"), true, true},
	}},
	{"protobuf/queues_management.proto", pkgManagement + ".ManagementService", []methodRow{
		{"CreateQueue", msg("CreateQueueRequest"), emptyType, false, false},
		{"ResizeQueue", msg("ResizeQueueRequest"), emptyType, false, false},
		{"DeleteQueue", msg("DeleteQueueRequest"), emptyType, false, false},
		{"ListQueues", emptyType, msg("ListQueuesResponse"), false, false},
		{"PauseQueue", msg("PauseQueueRequest"), emptyType, false, false},
		{"ResumeQueue", msg("ResumeQueueRequest"), emptyType, false, false},
	}},
	{"protobuf/storage_management.proto", pkgManagement + ".StorageManagementService", []methodRow{
		{"CreateStorage", msg("CreateStorageRequest"), emptyType, false, false},
		{"DeleteStorage", msg("DeleteStorageRequest"), emptyType, false, false},
		{"ListStorages", emptyType, msg("ListStoragesResponse"), false, false},
	}},
}

// messageRow is one message of the "Messages" table, all in package
// io.clbs.octopusmq.protobuf, file messages.proto. fields is the API.md cell verbatim
// (parsed by parseFields): "N name [repeated|optional] type" entries separated by " · ",
// "ext:" marks the rest of the cell as our extensions, "oneof X:" puts the rest of the cell
// into oneof X, "Duration" is google.protobuf.Duration, "(empty)" means no fields. API.md
// rows of the form "A / B" are split into two rows here, left fields to A, right to B.
// ext marks messages API.md lists as "ext" (our extensions, still binding once listed).
type messageRow struct {
	name   protoreflect.Name
	fields string
	ext    bool
}

var contractMessages = []messageRow{
	{name: "Item", fields: "1 id uint64 · 2 priority uint32 · 3 key bytes · 4 unique_key bytes · 5 value bytes · ext: 6 delivery_count uint32 · 7 enqueued_at google.protobuf.Timestamp"},
	{name: "InputItem", fields: "1 ttl Duration · 2 priority uint32 · 3 key bytes · 4 unique_key bytes · 5 value bytes · ext: 6 delay Duration · 7 compress bool"},
	{name: "QueueRequest", fields: "1 correlation_id uint64 · oneof command: 2 setup SetupRequest · 3 noop NoopRequest · 4 enqueue EnqueueRequest · 5 pull_single PullSingleRequest · 6 pull PullRequest · 7 commit_single CommitSingleRequest · 8 commit CommitRequest · 9 requeue_single RequeueSingleRequest · 10 requeue RequeueRequest · 11 delete_single DeleteSingleRequest · 12 delete DeleteRequest · 13 batch_enqueue BatchEnqueueRequest · 14 get_queue_info GetQueueInfoRequest · ext: 15 extend ExtendRequest"},
	{name: "QueueResponse", fields: "1 correlation_id uint64 · oneof response: 2 status StatusResponse · 3 enqueue EnqueueResponse · 4 pull_single PullSingleResponse · 5 pull PullResponse · 6 commit_single CommitSingleResponse · 7 commit CommitResponse · 8 requeue_single RequeueSingleResponse · 9 requeue RequeueResponse · 10 delete_single DeleteSingleResponse · 11 delete DeleteResponse · 12 batch_enqueue BatchEnqueueResponse · 13 get_queue_info GetQueueInfoResponse · ext: 14 extend ExtendResponse"},
	{name: "SetupRequest", fields: "1 queue_name string"},
	{name: "NoopRequest", fields: "(empty)"},
	{name: "StatusResponse", fields: "1 code StatusCode · 2 message string · ext: 3 id uint64"},
	{name: "GetQueueInfoRequest", fields: "(empty)"},
	{name: "GetQueueInfoResponse", fields: "1 max_size uint32 · 2 length uint32 · 3 active uint32 · 4 priorities uint32 · ext: 5 paused bool"},
	{name: "EnqueueRequest", fields: "1 item InputItem · 2 timeout Duration"},
	{name: "BatchEnqueueRequest", fields: "1 items repeated InputItem · 2 timeout Duration"},
	{name: "EnqueueResponse", fields: "1 id uint64 · ext: 2 duplicate bool"},
	{name: "BatchEnqueueResponse", fields: "1 ids repeated uint64"},
	{name: "PullSingleRequest", fields: "1 timeout Duration"},
	{name: "PullSingleResponse", fields: "1 item Item"},
	{name: "PullRequest", fields: "1 batch_size int32 · 2 timeout Duration"},
	{name: "PullResponse", fields: "1 items repeated Item"},
	// CommitSingleRequest / Response | 1 id uint64 / 1 committed bool
	{name: "CommitSingleRequest", fields: "1 id uint64"},
	{name: "CommitSingleResponse", fields: "1 committed bool"},
	// CommitRequest / Response | 1 ids repeated uint64 / 1 ret int32
	{name: "CommitRequest", fields: "1 ids repeated uint64"},
	{name: "CommitResponse", fields: "1 ret int32"},
	// RequeueSingleRequest / Response | 1 item RequeueItem / 1 requeued bool
	{name: "RequeueSingleRequest", fields: "1 item RequeueItem"},
	{name: "RequeueSingleResponse", fields: "1 requeued bool"},
	// RequeueRequest / Response | 1 items repeated RequeueItem / 1 ret int32
	{name: "RequeueRequest", fields: "1 items repeated RequeueItem"},
	{name: "RequeueResponse", fields: "1 ret int32"},
	{name: "RequeueItem", fields: "1 id uint64 · 2 ttl Duration · ext: 3 priority optional uint32 · 4 delay Duration"},
	// DeleteSingleRequest / Response | 1 id uint64 / 1 deleted bool
	{name: "DeleteSingleRequest", fields: "1 id uint64"},
	{name: "DeleteSingleResponse", fields: "1 deleted bool"},
	// DeleteRequest / Response | 1 ids repeated uint64 / 1 ret int32
	{name: "DeleteRequest", fields: "1 ids repeated uint64"},
	{name: "DeleteResponse", fields: "1 ret int32"},
	// ext ExtendRequest / Response | 1 ids repeated uint64 · 2 lease Duration / 1 ret int32
	{name: "ExtendRequest", fields: "1 ids repeated uint64 · 2 lease Duration", ext: true},
	{name: "ExtendResponse", fields: "1 ret int32", ext: true},
	{name: "CreateQueueRequest", fields: "1 queue_name string · 2 priorities uint32 · 3 max_size uint32 · ext: 4 lease Duration · 5 max_deliveries uint32 · 6 dead_letter_queue string"},
	{name: "ResizeQueueRequest", fields: "1 queue_name string · 2 max_size uint32"},
	{name: "DeleteQueueRequest", fields: "1 queue_name string"},
	{name: "ListQueuesResponse", fields: "1 queues repeated ListQueueItem"},
	{name: "ListQueueItem", fields: "1 queue_name string · 2 priorities uint32 · 3 max_size uint32 · 4 count uint32 · 5 active uint32 · 6 paused bool · ext: 7 lease Duration · 8 max_deliveries uint32 · 9 dead_letter_queue string"},
	// PauseQueueRequest / ResumeQueueRequest | 1 queue_name string
	{name: "PauseQueueRequest", fields: "1 queue_name string"},
	{name: "ResumeQueueRequest", fields: "1 queue_name string"},
	// CreateStorageRequest / DeleteStorageRequest | 1 storage_name string
	{name: "CreateStorageRequest", fields: "1 storage_name string"},
	{name: "DeleteStorageRequest", fields: "1 storage_name string"},
	{name: "ListStoragesResponse", fields: "1 storages repeated ListStorageItem"},
	{name: "ListStorageItem", fields: "1 storage_name string · 2 count uint32 · 3 active uint32"},
	{name: "StorageRequest", fields: "1 correlation_id uint64 · oneof command: 2 setup StorageSetupRequest · 3 noop NoopRequest · 4 set StorageSetRequest · 5 get StorageGetRequest · 6 delete StorageDeleteRequest · 7 lock_any_with_id StorageLockAnyWithIdRequest · 8 release_id StorageReleaseIdRequest · 9 get_keys StorageGetKeysRequest · 10 get_keys_next StorageGetKeysNextRequest · 11 get_info StorageGetInfoRequest · ext: 12 lock_key StorageLockKeyRequest · 13 get_by_ids StorageGetByIdsRequest"},
	{name: "StorageResponse", fields: "1 correlation_id uint64 · oneof response: 2 status StatusResponse · 3 data_response StorageDataResponse · 4 get_keys_response StorageGetKeysResponse · 5 get_info_response StorageGetInfoResponse · ext: 6 items_response StorageItemsResponse"},
	// StorageGetInfoRequest / Response | (empty) / 1 count uint32 · 2 active uint32
	{name: "StorageGetInfoRequest", fields: "(empty)"},
	{name: "StorageGetInfoResponse", fields: "1 count uint32 · 2 active uint32"},
	{name: "StorageSetupRequest", fields: "1 storage_name string"},
	{name: "StorageSetRequest", fields: "1 key bytes · 2 value bytes · 3 ttl optional Duration · ext: 4 compress bool · 5 delay Duration · 6 lock_token uint64"},
	{name: "StorageGetRequest", fields: "1 key bytes"},
	{name: "StorageDeleteRequest", fields: "1 key bytes · ext: 2 lock_token uint64"},
	{name: "StorageLockAnyWithIdRequest", fields: "1 timeout Duration · ext: 2 key_prefix bytes · 3 lock_ttl Duration"},
	// API.md lists "1 id uint64 · 2 delete bool"; our protos add 3 lock_token uint64 on a new
	// number, an allowed extension: it is pinned here as such so that it cannot drift either.
	{name: "StorageReleaseIdRequest", fields: "1 id uint64 · 2 delete bool · ext: 3 lock_token uint64"},
	{name: "StorageGetKeysRequest", fields: "1 active_included bool"},
	{name: "StorageGetKeysNextRequest", fields: "(empty)"},
	{name: "StorageDataResponse", fields: "1 id uint64 · 2 key bytes · 3 value bytes · ext: 4 lock_token uint64"},
	{name: "StorageGetKeysResponse", fields: "1 keys repeated bytes · 2 more bool"},
	{name: "StorageLockKeyRequest", fields: "1 key bytes · 2 lock_ttl Duration · 3 timeout Duration", ext: true},
	{name: "StorageGetByIdsRequest", fields: "1 ids repeated uint64", ext: true},
	{name: "StorageItemsResponse", fields: "1 items repeated StorageDataResponse", ext: true},
}

// Fields we added beyond API.md. They are pinned in contractMessages like any other field
// but are not part of the published contract; the meta-check keeps this list honest.
var beyondAPIMD = map[protoreflect.FullName]bool{
	msg("StorageReleaseIdRequest") + ".lock_token": true,
}

type enumValueRow struct {
	number protoreflect.EnumNumber
	name   protoreflect.Name
	ext    bool
}

const statusCodeEnum = pkgMessages + ".StatusCode"

// StatusCode enum, messages.proto (each spelled STATUS_CODE_<NAME>).
var contractStatusCodes = []enumValueRow{
	{0, "STATUS_CODE_OK", false},
	{1, "STATUS_CODE_ERROR", false},
	{2, "STATUS_CODE_TIMEOUT", false},
	{3, "STATUS_CODE_NOT_FOUND", false},
	{4, "STATUS_CODE_INVALID_ARGUMENT", false},
	{5, "STATUS_CODE_ALREADY_EXISTS", false},
	{6, "STATUS_CODE_QUEUE_NOT_FOUND", false},
	{7, "STATUS_CODE_ITEM_BUSY", false},
	{8, "STATUS_CODE_QUEUE_PAUSED", false},
	{9, "STATUS_CODE_LEADER_SWITCH", false},
	{10, "STATUS_CODE_STORAGE_NOT_FOUND", false},
	{11, "STATUS_CODE_ITEM_NOT_BUSY", false},
	{12, "STATUS_CODE_ITEM_NOT_FOUND", false},
	{13, "STATUS_CODE_QUEUE_FULL", true},
}

// Floors for the meta-check: an emptied or truncated table must not pass.
const (
	minFiles       = 5
	minServices    = 4
	minMethods     = 11
	minMessages    = 60
	minFields      = 159
	minOneofFields = 44
	minEnumValues  = 14
)

// ---------------------------------------------------------------------------------------
// Parsing of the transcribed cells.
// ---------------------------------------------------------------------------------------

type fieldSpec struct {
	number   protoreflect.FieldNumber
	name     protoreflect.Name
	kind     protoreflect.Kind
	typeName protoreflect.FullName // message or enum full name; empty for scalars
	repeated bool
	optional bool              // proto3 `optional` keyword
	oneof    protoreflect.Name // real (non-synthetic) oneof the field belongs to
	ext      bool
}

func (f fieldSpec) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s ", f.number, f.name)
	if f.repeated {
		b.WriteString("repeated ")
	}
	if f.optional {
		b.WriteString("optional ")
	}
	if f.typeName != "" {
		b.WriteString(string(f.typeName))
	} else {
		b.WriteString(f.kind.String())
	}
	if f.oneof != "" {
		fmt.Fprintf(&b, " (oneof %s)", f.oneof)
	}
	return b.String()
}

var scalarKinds = map[string]protoreflect.Kind{
	"bool":     protoreflect.BoolKind,
	"int32":    protoreflect.Int32Kind,
	"sint32":   protoreflect.Sint32Kind,
	"uint32":   protoreflect.Uint32Kind,
	"int64":    protoreflect.Int64Kind,
	"sint64":   protoreflect.Sint64Kind,
	"uint64":   protoreflect.Uint64Kind,
	"fixed32":  protoreflect.Fixed32Kind,
	"sfixed32": protoreflect.Sfixed32Kind,
	"fixed64":  protoreflect.Fixed64Kind,
	"sfixed64": protoreflect.Sfixed64Kind,
	"float":    protoreflect.FloatKind,
	"double":   protoreflect.DoubleKind,
	"string":   protoreflect.StringKind,
	"bytes":    protoreflect.BytesKind,
}

// enums declared by the contract (bare names resolve in io.clbs.octopusmq.protobuf).
var contractEnums = map[string]bool{"StatusCode": true}

func resolveType(tok string) (protoreflect.Kind, protoreflect.FullName, error) {
	if k, ok := scalarKinds[tok]; ok {
		return k, "", nil
	}
	switch {
	case tok == "Duration":
		return protoreflect.MessageKind, "google.protobuf.Duration", nil
	case strings.HasPrefix(tok, "google.protobuf."):
		return protoreflect.MessageKind, protoreflect.FullName(tok), nil
	case contractEnums[tok]:
		return protoreflect.EnumKind, msg(tok), nil
	case !strings.Contains(tok, ".") && tok != "" && tok[0] >= 'A' && tok[0] <= 'Z':
		return protoreflect.MessageKind, msg(tok), nil
	}
	return 0, "", fmt.Errorf("unknown type %q", tok)
}

// parseFields parses one transcribed "fields" cell. It is strict: anything it does not
// understand is an error, never silently skipped.
func parseFields(cell string) ([]fieldSpec, error) {
	cell = strings.TrimSpace(cell)
	if cell == "(empty)" {
		return nil, nil
	}
	if cell == "" {
		return nil, fmt.Errorf(`empty cell (write "(empty)" for a message without fields)`)
	}
	var (
		out   []fieldSpec
		ext   bool
		oneof protoreflect.Name
		nums  = map[protoreflect.FieldNumber]bool{}
		names = map[protoreflect.Name]bool{}
	)
	for _, entry := range strings.Split(cell, "·") {
		entry = strings.TrimSpace(entry)
		if rest, ok := strings.CutPrefix(entry, "ext:"); ok {
			ext = true
			entry = strings.TrimSpace(rest)
		}
		if rest, ok := strings.CutPrefix(entry, "oneof "); ok {
			name, fields, found := strings.Cut(rest, ":")
			if !found || strings.TrimSpace(name) == "" {
				return nil, fmt.Errorf("bad oneof entry %q", entry)
			}
			oneof = protoreflect.Name(strings.TrimSpace(name))
			entry = strings.TrimSpace(fields)
		}
		words := strings.Fields(entry)
		if len(words) != 3 && len(words) != 4 {
			return nil, fmt.Errorf("bad field entry %q", entry)
		}
		n, err := strconv.Atoi(words[0])
		if err != nil || n < 1 || n > 536870911 {
			return nil, fmt.Errorf("bad field number in %q", entry)
		}
		f := fieldSpec{number: protoreflect.FieldNumber(n), name: protoreflect.Name(words[1]), oneof: oneof, ext: ext}
		if !f.name.IsValid() {
			return nil, fmt.Errorf("bad field name in %q", entry)
		}
		typ := words[2]
		if len(words) == 4 {
			switch words[2] {
			case "repeated":
				f.repeated = true
			case "optional":
				f.optional = true
			default:
				return nil, fmt.Errorf("bad label %q in %q", words[2], entry)
			}
			typ = words[3]
		}
		if f.kind, f.typeName, err = resolveType(typ); err != nil {
			return nil, fmt.Errorf("%v in %q", err, entry)
		}
		if f.oneof != "" && (f.repeated || f.optional) {
			return nil, fmt.Errorf("oneof member cannot be repeated/optional: %q", entry)
		}
		if nums[f.number] || names[f.name] {
			return nil, fmt.Errorf("duplicate field number or name in %q", entry)
		}
		nums[f.number], names[f.name] = true, true
		out = append(out, f)
	}
	return out, nil
}

func mustParse(t *testing.T, row messageRow) []fieldSpec {
	t.Helper()
	fields, err := parseFields(row.fields)
	if err != nil {
		t.Fatalf("contract table, message %s: %v", row.name, err)
	}
	return fields
}

// ---------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------

// TestContractTablesAreComplete is the meta-check: the tables parse, have no duplicates
// and are not (accidentally) emptied or truncated.
func TestContractTablesAreComplete(t *testing.T) {
	var fields, oneofFields, extFields int
	seen := map[protoreflect.Name]bool{}
	beyond := 0
	for _, row := range contractMessages {
		if seen[row.name] {
			t.Errorf("message %s listed twice", row.name)
		}
		seen[row.name] = true
		for _, f := range mustParse(t, row) {
			fields++
			if f.oneof != "" {
				oneofFields++
			}
			if f.ext {
				extFields++
			}
			if beyondAPIMD[msg(string(row.name))+"."+protoreflect.FullName(f.name)] {
				beyond++
				if !f.ext {
					t.Errorf("%s.%s is beyond API.md and must be marked ext", row.name, f.name)
				}
			}
		}
	}
	if beyond != len(beyondAPIMD) {
		t.Errorf("beyondAPIMD lists %d fields, %d found in the table", len(beyondAPIMD), beyond)
	}
	methods := 0
	for _, s := range contractServices {
		methods += len(s.methods)
	}
	enumNums := map[protoreflect.EnumNumber]bool{}
	enumNames := map[protoreflect.Name]bool{}
	for _, v := range contractStatusCodes {
		if enumNums[v.number] || enumNames[v.name] {
			t.Errorf("StatusCode value %d %s listed twice", v.number, v.name)
		}
		enumNums[v.number], enumNames[v.name] = true, true
	}
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"files", len(contractFiles), minFiles},
		{"services", len(contractServices), minServices},
		{"methods", methods, minMethods},
		{"messages", len(contractMessages), minMessages},
		{"fields", fields, minFields},
		{"oneof fields", oneofFields, minOneofFields},
		{"StatusCode values", len(contractStatusCodes), minEnumValues},
	} {
		if c.got < c.want {
			t.Errorf("contract table has %d %s, want at least %d", c.got, c.what, c.want)
		}
	}
	t.Logf("contract: %d files, %d services, %d methods, %d messages, %d fields (%d in oneofs, %d ext, %d beyond API.md), %d StatusCode values",
		len(contractFiles), len(contractServices), methods, len(contractMessages), fields, oneofFields, extFields, len(beyondAPIMD), len(contractStatusCodes))
}

// The parser must reject what it does not understand and read what it does correctly.
func TestContractParser(t *testing.T) {
	got, err := parseFields("1 a uint64 · oneof x: 2 b Duration · ext: 3 c StatusCode")
	if err != nil {
		t.Fatal(err)
	}
	want := []fieldSpec{
		{number: 1, name: "a", kind: protoreflect.Uint64Kind},
		{number: 2, name: "b", kind: protoreflect.MessageKind, typeName: "google.protobuf.Duration", oneof: "x"},
		{number: 3, name: "c", kind: protoreflect.EnumKind, typeName: statusCodeEnum, oneof: "x", ext: true},
	}
	if len(got) != len(want) {
		t.Fatalf("parsed %d fields, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d: got %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"", "1 a", "x a uint64", "1 a uint46", "1 a required uint64", "1 a uint64 · 1 b bool", "1 a uint64 · 2 a bool", "oneof x 1 a uint64", "0 a bool"} {
		if _, err := parseFields(bad); err == nil {
			t.Errorf("parseFields(%q) accepted a bad cell", bad)
		}
	}
}

func TestWireContractFiles(t *testing.T) {
	for _, row := range contractFiles {
		t.Run(row.name, func(t *testing.T) {
			fd, err := protoregistry.GlobalFiles.FindFileByPath(row.path)
			if err != nil {
				t.Fatalf("file %s not registered at %s: %v", row.name, row.path, err)
			}
			if gen := row.desc(); gen.Path() != fd.Path() || gen.Package() != fd.Package() {
				t.Errorf("generated descriptor is %s (package %s), registry has %s (package %s)", gen.Path(), gen.Package(), fd.Path(), fd.Package())
			}
			if got := path.Base(fd.Path()); got != row.name {
				t.Errorf("file name: got %s, want %s", got, row.name)
			}
			if fd.Package() != row.pkg {
				t.Errorf("%s: proto package %s, want %s", row.path, fd.Package(), row.pkg)
			}
			if fd.Syntax() != protoreflect.Proto3 {
				t.Errorf("%s: syntax %v, want proto3", row.path, fd.Syntax())
			}
		})
	}
}

func TestWireContractServices(t *testing.T) {
	for _, svc := range contractServices {
		t.Run(string(svc.name.Name()), func(t *testing.T) {
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(svc.name)
			if err != nil {
				t.Fatalf("service %s not found: %v", svc.name, err)
			}
			sd, ok := d.(protoreflect.ServiceDescriptor)
			if !ok {
				t.Fatalf("%s is a %T, not a service", svc.name, d)
			}
			if got := sd.ParentFile().Path(); got != svc.file {
				t.Errorf("service %s declared in %s, want %s", svc.name, got, svc.file)
			}
			for _, m := range svc.methods {
				t.Run(string(m.name), func(t *testing.T) {
					md := sd.Methods().ByName(m.name)
					if md == nil {
						t.Fatalf("method %s.%s missing", svc.name, m.name)
					}
					if got := md.Input().FullName(); got != m.input {
						t.Errorf("%s input: got %s, want %s", md.FullName(), got, m.input)
					}
					if got := md.Output().FullName(); got != m.output {
						t.Errorf("%s output: got %s, want %s", md.FullName(), got, m.output)
					}
					if got := md.IsStreamingClient(); got != m.clientStream {
						t.Errorf("%s client streaming: got %v, want %v", md.FullName(), got, m.clientStream)
					}
					if got := md.IsStreamingServer(); got != m.serverStream {
						t.Errorf("%s server streaming: got %v, want %v", md.FullName(), got, m.serverStream)
					}
				})
			}
		})
	}
}

func TestWireContractMessages(t *testing.T) {
	for _, row := range contractMessages {
		t.Run(string(row.name), func(t *testing.T) {
			specs := mustParse(t, row)
			full := msg(string(row.name))
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(full)
			if err != nil {
				t.Fatalf("message %s not found: %v", full, err)
			}
			md, ok := d.(protoreflect.MessageDescriptor)
			if !ok {
				t.Fatalf("%s is a %T, not a message", full, d)
			}
			if got := md.ParentFile().Path(); got != messagesFile {
				t.Errorf("message %s declared in %s, want %s", full, got, messagesFile)
			}
			listed := map[protoreflect.FieldNumber]bool{}
			for _, spec := range specs {
				listed[spec.number] = true
				t.Run(fmt.Sprintf("%d_%s", spec.number, spec.name), func(t *testing.T) {
					checkField(t, md, spec)
				})
			}
			// Fields beyond the table are extensions: allowed, and (by the by-number checks
			// above) necessarily on numbers the contract does not list. Log them so a
			// reviewer sees what the wire carries beyond the contract.
			fds := md.Fields()
			for i := 0; i < fds.Len(); i++ {
				if fd := fds.Get(i); !listed[fd.Number()] {
					t.Logf("extension beyond the contract: %s = %d (%v)", fd.FullName(), fd.Number(), fd.Kind())
				}
			}
		})
	}
}

func checkField(t *testing.T, md protoreflect.MessageDescriptor, spec fieldSpec) {
	t.Helper()
	fd := md.Fields().ByNumber(spec.number)
	if fd == nil {
		if other := md.Fields().ByName(spec.name); other != nil {
			t.Fatalf("wire break: %s.%s is field %d, contract says %d (renumbered)", md.FullName(), spec.name, other.Number(), spec.number)
		}
		t.Fatalf("wire break: %s has no field %d (want %v)", md.FullName(), spec.number, spec)
	}
	if fd.Name() != spec.name {
		t.Errorf("wire break: %s field %d is named %q, contract says %q (number reused by a different name)", md.FullName(), spec.number, fd.Name(), spec.name)
	}
	if fd.IsExtension() {
		t.Errorf("%s: is a proto extension, want a regular field", fd.FullName())
	}
	if fd.Kind() != spec.kind {
		t.Errorf("wire break: %s type %v, contract says %v", fd.FullName(), fd.Kind(), spec.kind)
	}
	var typeName protoreflect.FullName
	switch {
	case fd.Message() != nil:
		typeName = fd.Message().FullName()
	case fd.Enum() != nil:
		typeName = fd.Enum().FullName()
	}
	if typeName != spec.typeName {
		t.Errorf("wire break: %s type %q, contract says %q", fd.FullName(), typeName, spec.typeName)
	}
	if fd.IsMap() {
		t.Errorf("wire break: %s is a map, contract says %v", fd.FullName(), spec)
	}
	if got := fd.Cardinality() == protoreflect.Repeated; got != spec.repeated {
		t.Errorf("wire break: %s repeated=%v, contract says repeated=%v", fd.FullName(), got, spec.repeated)
	}
	if got := fd.HasOptionalKeyword(); got != spec.optional {
		t.Errorf("contract break: %s proto3 optional=%v, contract says optional=%v", fd.FullName(), got, spec.optional)
	}
	var oneof protoreflect.Name
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
		oneof = od.Name()
	}
	if oneof != spec.oneof {
		t.Errorf("contract break: %s is in oneof %q, contract says %q", fd.FullName(), oneof, spec.oneof)
	}
}

func TestWireContractStatusCode(t *testing.T) {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(statusCodeEnum)
	if err != nil {
		t.Fatalf("enum %s not found: %v", statusCodeEnum, err)
	}
	ed, ok := d.(protoreflect.EnumDescriptor)
	if !ok {
		t.Fatalf("%s is a %T, not an enum", statusCodeEnum, d)
	}
	if got := ed.ParentFile().Path(); got != messagesFile {
		t.Errorf("enum %s declared in %s, want %s", statusCodeEnum, got, messagesFile)
	}
	listed := map[protoreflect.EnumNumber]protoreflect.Name{}
	for _, v := range contractStatusCodes {
		listed[v.number] = v.name
		t.Run(fmt.Sprintf("%d_%s", v.number, v.name), func(t *testing.T) {
			vd := ed.Values().ByName(v.name)
			if vd == nil {
				t.Fatalf("wire break: %s has no value %s", statusCodeEnum, v.name)
			}
			if vd.Number() != v.number {
				t.Errorf("wire break: %s = %d, contract says %d", v.name, vd.Number(), v.number)
			}
		})
	}
	// No listed number may carry another name (also rules out aliases of listed numbers).
	vals := ed.Values()
	for i := 0; i < vals.Len(); i++ {
		vd := vals.Get(i)
		want, ok := listed[vd.Number()]
		switch {
		case !ok:
			t.Logf("extension beyond the contract: %s = %d", vd.Name(), vd.Number())
		case vd.Name() != want:
			t.Errorf("wire break: %s number %d is named %s, contract says %s", statusCodeEnum, vd.Number(), vd.Name(), want)
		}
	}
}
