// Package contract holds the wire-contract test for the published OctopusMQ protocol.
//
// The package has no code of its own. Its test (contract_test.go) carries a self-contained
// transcription of API.md §1 "Wire compatibility": the proto files and their packages, the
// services and their methods, every message with its field numbers, names, types,
// cardinality, proto3 optional presence and oneof membership, and the StatusCode enum. It
// checks the descriptors compiled into the generated Go packages (gen/pb, gen/grpcpb,
// gen/managementpb) against that transcription, so a renumbered, renamed or retyped field,
// a dropped message, method or enum value, or a changed streaming flag fails `go test`.
//
// Extensions stay allowed, as the contract says: new fields (with numbers not listed),
// new oneof cases, new enum values, new messages and new methods.
package contract
