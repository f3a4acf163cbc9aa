package state

// MaxRecordBytes bounds one snapshot record when a snapshot is read (restart, follower
// install, backup restore). A record holds one queue item or one key with its value, so it
// is never larger than the request that wrote it, and requests are bounded far below this
// (service.MaxMessageCeiling): whatever any configuration accepted can be read back, while a
// corrupt length prefix cannot make the reader allocate without bound. (protodelim's
// default, 4 MiB, is smaller than the largest value the server accepts.)
const MaxRecordBytes = 512 << 20
