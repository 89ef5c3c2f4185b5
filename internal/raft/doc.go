// Package raft is Kavka's driver around go.etcd.io/raft/v3 for the metadata
// quorum (KRaft's role, KIP-500/595/630): controllers are voters, brokers
// that are not controllers follow the log as learners (KRaft's observers).
// The consensus algorithm is etcd's; this package owns what etcd leaves to
// the caller: disk, network and time.
//
//   - Storage: a WAL of CRC32C-framed entries and hard states in segment
//     files, snapshots written atomically, log compaction after a
//     snapshot, all through internal/vfs. A raft.MemoryStorage rebuilt
//     from the WAL and the latest snapshot on open serves raft's reads.
//   - Node: one goroutine (Run) runs the Ready loop: persist and fsync,
//     then send, then apply, then Advance. Propose returns once the entry
//     is committed and applied locally; ReadIndex gives linearizable reads;
//     AddLearner/RemoveLearner change membership; TransferLeadership hands
//     leadership over for a controlled shutdown; Status feeds
//     DescribeQuorum. PreVote and CheckQuorum are on.
//   - Transports: MemNetwork (in memory, seeded drops, delays and
//     partitions) for tests and simulation, and TCPTransport between
//     controllers.
//
// The application (internal/metadata) supplies Apply, Restore and Snapshot
// callbacks; its state is in memory and rebuilt on every start from the
// latest snapshot plus the committed log. See DESIGN.md.
//
// Package raft imports only internal/vfs from Kavka.
package raft
