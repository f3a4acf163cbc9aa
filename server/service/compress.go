package service

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// Values sent with compress=true are zstd-compressed by the node that proposes them, so the
// Raft log, the state and snapshots hold the compressed bytes; readers get the original.
var (
	zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
)

func compress(v []byte) []byte { return zenc.EncodeAll(v, nil) }

func decompress(v []byte) ([]byte, error) {
	out, err := zdec.DecodeAll(v, nil)
	if err != nil {
		return nil, fmt.Errorf("stored value does not decompress: %w", err)
	}
	return out, nil
}
