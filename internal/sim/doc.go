// Package sim is Kavka's deterministic cluster simulation (STYLE C12,
// issue 7): controllers and brokers built from the production packages
// (the metadata state machine and its controller, the raft driver, the ISR
// data plane, the commit log) run over an in-memory network, fake clocks and
// crash-simulating file systems, driven by one seeded event loop.
//
// Everything that is not the transport, the clock or the disk is the real
// code; the thin glue the server adds around it (broker registration and
// heartbeats, image → replica state, fetcher and AlterPartition loops, the
// produce path) is replicated here. See DESIGN.md for what is simulated,
// how determinism is achieved, and how to replay a seed.
package sim
