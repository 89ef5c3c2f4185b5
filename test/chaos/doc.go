// Package chaos runs real `kavka serve` processes under faults and checks
// what a Jepsen-style queue workload observed.
//
// Three nodes (broker and controller each) listen on 127.0.0.11–13; every
// link goes through an in-process fault proxy ([Net]): clients and follower
// fetches reach a broker through its advertised proxy address, and the
// controllers reach each other through one proxy per ordered pair (each
// node is given its own controller.quorum.voters). The proxy blackholes,
// delays, throttles, resets or holds traffic per direction between two
// nodes (0 stands for the test's clients).
//
// Idempotent acks=all producers send unique values to an RF=3,
// min.insync.replicas=2 topic while assign-mode consumers poll; every
// operation is logged as invoke/ok/fail/info ([History]). A nemesis
// (SIGKILL, SIGTERM, SIGSTOP, proxy partitions, torn segment tails, killing
// the active controller) runs from a seed; after a heal and a final drain,
// [Check] looks for lost, unseen, duplicated and inconsistent records,
// non-monotonic sends and polls, and the test checks full ISR, converged
// metadata and byte-identical replicas after a clean stop.
//
//	go test ./test/chaos -v                                  # quick variants (CI)
//	go test ./test/chaos -v -chaos.soak -timeout 2h          # long variants
//	go test ./test/chaos -run 'TestChaos/F3$' -chaos.seed=N  # replay a seed
package chaos
