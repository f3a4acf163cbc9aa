package main

import (
	"flag"

	"github.com/clbs-io/octopusmq/server/service"
)

// limitFlags defines the size limit flags (defaults: service.DefaultLimits) and returns
// the limits they fill in when the flag set is parsed. The message and body limits default
// to 0, which the server derives from the item limits (service.Limits.WithDefaults), so
// raising --max-value-bytes alone works.
func limitFlags(fs *flag.FlagSet) *service.Limits {
	l := service.DefaultLimits
	l.MaxRequestBytes, l.MaxResponseBytes, l.MaxHTTPBodyBytes = 0, 0, 0
	fs.IntVar(&l.MaxValueBytes, "max-value-bytes", l.MaxValueBytes, "largest item or key value accepted, in bytes (before compression)")
	fs.IntVar(&l.MaxKeyBytes, "max-key-bytes", l.MaxKeyBytes, "largest storage key and queue item key, in bytes (at most 1024)")
	fs.IntVar(&l.MaxUniqueKeyBytes, "max-unique-key-bytes", l.MaxUniqueKeyBytes, "largest queue item unique_key, in bytes")
	fs.IntVar(&l.MaxNameBytes, "max-name-bytes", l.MaxNameBytes, "longest name of a new queue or storage (at most 200)")
	fs.IntVar(&l.MaxBatch, "max-batch", l.MaxBatch, "most items, ids or keys in one request; a pull asking for more gets at most this many")
	fs.IntVar(&l.MaxRequestBytes, "max-request-bytes", l.MaxRequestBytes, "largest gRPC request message, in bytes (0: 5 MiB, or one item at the value, key and unique key limits plus 4 KiB if larger)")
	fs.IntVar(&l.MaxResponseBytes, "max-response-bytes", l.MaxResponseBytes, "largest answer of a pull or get_by_ids, in bytes: a pull stops leasing items there (0: 16 MiB, or one item at the limits if larger)")
	fs.IntVar(&l.MaxHTTPBodyBytes, "max-http-body-bytes", l.MaxHTTPBodyBytes, "largest HTTP request body, in bytes; larger ones answer 413 (0: 8 MiB, or 4/3 of --max-request-bytes plus 4 KiB if larger: JSON values are base64)")
	fs.IntVar(&l.MaxQueues, "max-queues", l.MaxQueues, "most queues that may exist; creates beyond it answer RESOURCE_EXHAUSTED (429)")
	fs.IntVar(&l.MaxStorages, "max-storages", l.MaxStorages, "most storages that may exist; creates beyond it answer RESOURCE_EXHAUSTED (429)")
	return &l
}
