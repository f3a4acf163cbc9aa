package state

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// The snapshot file format, shared by Raft's snapshots and backups (version 1):
//
//	magic           8 bytes  "\x89OMQSNAP"
//	format version  uint32, big-endian (1)
//	applied index   uint64, big-endian: the Raft index the state includes
//	cluster id      1 length byte, then that many bytes
//	records         SnapshotRecords, each a uvarint length and the protobuf message;
//	                SnapshotMeta first (never empty, so never length 0)
//	end marker      one zero byte (a record of length 0)
//	trailer         record count uint64 big-endian, then CRC-32C (Castagnoli) uint32
//	                big-endian of every byte from the magic through the end marker
//
// Nothing may follow the trailer. A reader therefore notices an empty or truncated file (no
// end marker or a short trailer), any changed byte (the checksum), extra bytes, a file of a
// newer format (the version, checked before anything else) and foreign files (the magic).
//
// The files of servers before version 1 are a bare sequence of records (no header, no
// trailer). Their first byte is the length of the meta record (< 0x80), never the magic's
// 0x89. Raft snapshots in that format are still read, so existing data folders keep working
// (Raft checks its snapshot files with its own CRC); backups must be version 1.

// SnapshotFormatVersion is the format version this server writes and the newest it reads.
const SnapshotFormatVersion uint32 = 1

// snapshotMagic opens every snapshot file. The high first byte tells it from a legacy file
// and from text.
var snapshotMagic = [8]byte{0x89, 'O', 'M', 'Q', 'S', 'N', 'A', 'P'}

const (
	// maxClusterIDBytes is the longest cluster id a header can hold.
	maxClusterIDBytes = 255
	trailerBytes      = 8 + 4
	fixedHeaderBytes  = len(snapshotMagic) + 4 + 8 + 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SnapshotInfo describes a snapshot file that checked out.
type SnapshotInfo struct {
	// Version is the file's format version (0: the legacy headerless format).
	Version uint32
	// AppliedIndex is the Raft index of the last entry the state includes, on the cluster
	// that wrote the file.
	AppliedIndex uint64
	// ClusterID is the id of the cluster that wrote the file.
	ClusterID string
	// Records is the number of records (meta, members, queues, items, storages, keys).
	Records uint64
	// Counters are the file's global counters.
	Counters Counters
	// Size is the file's length in bytes.
	Size int64

	metaEnd    int64 // offset just past the meta record
	recordsEnd int64 // offset of the end marker
}

// RestoreResult is the JSON answer of a successful restore of a backup (POST
// /v1/cluster/snapshot:restore): what the backup held (its size, records, and the cluster and
// Raft index it was taken at) and the cluster's counters after the restore. The server
// writes it; the command-line tools read it.
type RestoreResult struct {
	Bytes         int64  `json:"bytes"`
	Records       uint64 `json:"records"`
	FromClusterID string `json:"fromClusterId"`
	FromIndex     uint64 `json:"fromAppliedIndex,string"`
	NextID        uint64 `json:"nextId,string"`
	LastLockToken uint64 `json:"lastLockToken,string"`
	ClockUnixNano int64  `json:"clockUnixNano,string"`
}

// Counters are the state's global counters: they only ever grow.
type Counters struct {
	// Clock is the state's clock (Unix ns).
	Clock int64
	// NextID is the next item or key id.
	NextID uint64
	// LastToken is the last fencing token granted.
	LastToken uint64
}

// Max returns the larger of each counter of c and o.
func (c Counters) Max(o Counters) Counters {
	return Counters{Clock: max(c.Clock, o.Clock), NextID: max(c.NextID, o.NextID), LastToken: max(c.LastToken, o.LastToken)}
}

func (c Counters) meta() *raftpb.SnapshotMeta {
	return &raftpb.SnapshotMeta{ClockUnixNano: c.Clock, NextId: c.NextID, LastLockToken: c.LastToken}
}

// SnapshotError is a snapshot file that does not check out. Nothing was changed.
type SnapshotError struct{ msg string }

func (e *SnapshotError) Error() string { return e.msg }

func snapErr(format string, args ...any) error {
	return &SnapshotError{msg: fmt.Sprintf(format, args...)}
}

// encodeHeader returns the bytes from the magic through the cluster id.
func encodeHeader(appliedIndex uint64, clusterID string) []byte {
	if len(clusterID) > maxClusterIDBytes {
		clusterID = clusterID[:maxClusterIDBytes]
	}
	b := make([]byte, 0, fixedHeaderBytes+len(clusterID))
	b = append(b, snapshotMagic[:]...)
	b = binary.BigEndian.AppendUint32(b, SnapshotFormatVersion)
	b = binary.BigEndian.AppendUint64(b, appliedIndex)
	b = append(b, byte(len(clusterID)))
	return append(b, clusterID...)
}

// encodeTrailer returns the trailer for count records whose bytes (header to end marker)
// have checksum crc.
func encodeTrailer(count uint64, crc uint32) []byte {
	b := make([]byte, 0, trailerBytes)
	b = binary.BigEndian.AppendUint64(b, count)
	return binary.BigEndian.AppendUint32(b, crc)
}

// snapshotReader reads records and keeps the checksum and offset of what it consumed.
type snapshotReader struct {
	br  *bufio.Reader
	crc uint32
	off int64
}

func (r *snapshotReader) ReadByte() (byte, error) {
	b, err := r.br.ReadByte()
	if err == nil {
		r.crc = crc32.Update(r.crc, castagnoli, []byte{b})
		r.off++
	}
	return b, err
}

func (r *snapshotReader) Read(p []byte) (int, error) {
	n, err := r.br.Read(p)
	r.crc = crc32.Update(r.crc, castagnoli, p[:n])
	r.off += int64(n)
	return n, err
}

// full reads exactly len(p) bytes; a short read is a truncated file.
func (r *snapshotReader) full(p []byte, what string) error {
	if _, err := io.ReadFull(r, p); err != nil {
		return truncated(what, err)
	}
	return nil
}

func truncated(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return snapErr("truncated snapshot: it ends inside the %s", what)
	}
	return fmt.Errorf("reading the snapshot's %s: %w", what, err)
}

// readHeader reads the header after the magic.
func (r *snapshotReader) readHeader(info *SnapshotInfo) error {
	var fixed [4 + 8 + 1]byte
	if err := r.full(fixed[:4], "header"); err != nil {
		return err
	}
	info.Version = binary.BigEndian.Uint32(fixed[:4])
	if info.Version == 0 || info.Version > SnapshotFormatVersion {
		return snapErr("snapshot format version %d is not supported: this server reads versions 1 to %d (a newer server wrote it?)", info.Version, SnapshotFormatVersion)
	}
	if err := r.full(fixed[4:], "header"); err != nil {
		return err
	}
	info.AppliedIndex = binary.BigEndian.Uint64(fixed[4:12])
	id := make([]byte, fixed[12])
	if err := r.full(id, "header"); err != nil {
		return err
	}
	info.ClusterID = string(id)
	return nil
}

// next reads the next record; done reports the end marker (version 1) or the end of a
// legacy file.
func (r *snapshotReader) next(legacy bool, n uint64) (rec *raftpb.SnapshotRecord, done bool, err error) {
	what := fmt.Sprintf("record %d", n+1)
	size, err := binary.ReadUvarint(r)
	switch {
	case legacy && errors.Is(err, io.EOF):
		return nil, true, nil
	case errors.Is(err, io.EOF):
		return nil, false, snapErr("truncated snapshot: it ends after %d records, without its end marker and trailer", n)
	case err != nil:
		return nil, false, truncated(what, err)
	case size == 0 && !legacy:
		return nil, true, nil
	case size == 0 || size > MaxRecordBytes:
		return nil, false, snapErr("corrupt snapshot: %s has length %d", what, size)
	}
	var b []byte
	if size <= 1<<16 {
		b = make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, false, truncated(what, err)
		}
	} else { // grow as the bytes arrive: a corrupt length must not allocate up front
		var buf bytes.Buffer
		if _, err := io.CopyN(&buf, r, int64(size)); err != nil {
			return nil, false, truncated(what, err)
		}
		b = buf.Bytes()
	}
	rec = &raftpb.SnapshotRecord{}
	if err := proto.Unmarshal(b, rec); err != nil {
		return nil, false, snapErr("corrupt snapshot: %s: %v", what, err)
	}
	return rec, false, nil
}

// readTrailer checks the trailer against the count and checksum so far, and that the file
// ends there.
func (r *snapshotReader) readTrailer(info *SnapshotInfo) error {
	crc := r.crc
	var t [trailerBytes]byte
	if _, err := io.ReadFull(r.br, t[:]); err != nil {
		return truncated("trailer", err)
	}
	if count := binary.BigEndian.Uint64(t[:8]); count != info.Records {
		return snapErr("corrupt snapshot: the trailer counts %d records, the file holds %d", count, info.Records)
	}
	if sum := binary.BigEndian.Uint32(t[8:]); sum != crc {
		return snapErr("corrupt snapshot: checksum mismatch (trailer %08x, content %08x)", sum, crc)
	}
	if _, err := r.br.ReadByte(); err == nil {
		return snapErr("corrupt snapshot: bytes follow the trailer")
	} else if !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the snapshot: %w", err)
	}
	info.Size = r.off + trailerBytes
	return nil
}

// RewriteCounters returns the snapshot file f (checked by CheckSnapshot, which gave info)
// with cluster id clusterID and counters c in place of its own, and the new file's size.
// The records after the meta record are copied as they are; the checksum is computed anew
// as the result is read.
func RewriteCounters(f io.ReaderAt, info *SnapshotInfo, clusterID string, c Counters) (io.Reader, int64, error) {
	if info.Version != SnapshotFormatVersion || info.metaEnd == 0 {
		return nil, 0, errors.New("only a checked version 1 snapshot can be rewritten")
	}
	var prefix bytes.Buffer
	prefix.Write(encodeHeader(info.AppliedIndex, clusterID))
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Meta{Meta: c.meta()}})
	if err != nil {
		return nil, 0, err
	}
	prefix.Write(protowire.AppendVarint(nil, uint64(len(b))))
	prefix.Write(b)
	rest := io.NewSectionReader(f, info.metaEnd, info.recordsEnd+1-info.metaEnd) // through the end marker
	sum := crc32.New(castagnoli)
	body := io.TeeReader(io.MultiReader(bytes.NewReader(prefix.Bytes()), rest), sum)
	trailer := &lazyReader{make: func() []byte { return encodeTrailer(info.Records, sum.Sum32()) }}
	size := int64(prefix.Len()) + rest.Size() + trailerBytes
	return io.MultiReader(body, trailer), size, nil
}

// lazyReader reads the bytes make returns when first read.
type lazyReader struct {
	make func() []byte
	r    *bytes.Reader
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.r == nil {
		l.r = bytes.NewReader(l.make())
	}
	return l.r.Read(p)
}
