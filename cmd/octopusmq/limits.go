package main

import (
	"flag"

	"github.com/clbs-io/octopusmq/server/service"
)

// limitFlags defines the size limit flags (defaults: service.DefaultLimits) and returns
// the limits they fill in when the flag set is parsed.
func limitFlags(fs *flag.FlagSet) *service.Limits {
	l := service.DefaultLimits
	fs.IntVar(&l.MaxValueBytes, "max-value-bytes", l.MaxValueBytes, "largest item or key value accepted, in bytes (before compression)")
	fs.IntVar(&l.MaxKeyBytes, "max-key-bytes", l.MaxKeyBytes, "largest storage key and queue item key, in bytes (at most 1024)")
	fs.IntVar(&l.MaxUniqueKeyBytes, "max-unique-key-bytes", l.MaxUniqueKeyBytes, "largest queue item unique_key, in bytes")
	fs.IntVar(&l.MaxNameBytes, "max-name-bytes", l.MaxNameBytes, "longest name of a new queue or storage (at most 200)")
	fs.IntVar(&l.MaxBatch, "max-batch", l.MaxBatch, "most items, ids or keys in one request; a pull asking for more gets at most this many")
	fs.IntVar(&l.MaxRequestBytes, "max-request-bytes", l.MaxRequestBytes, "largest gRPC request message, in bytes (must hold one item at the value, key and unique key limits)")
	fs.IntVar(&l.MaxResponseBytes, "max-response-bytes", l.MaxResponseBytes, "largest answer of a pull or get_by_ids, in bytes: a pull stops leasing items there")
	fs.IntVar(&l.MaxHTTPBodyBytes, "max-http-body-bytes", l.MaxHTTPBodyBytes, "largest HTTP request body, in bytes (JSON: values are base64, 4/3 as large); larger ones answer 413")
	return &l
}
