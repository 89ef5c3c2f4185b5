// Package vfs is the file-system seam under every piece of Kavka that touches
// disk. Production code uses [Default] (the operating system); tests use an
// in-memory file system that can simulate a crash by dropping everything that
// was not fsynced, and a fault-injecting wrapper for ENOSPC, EIO, short writes
// and failed fsyncs. [SyncLog] journals what a real process made durable so
// that a test can drop its un-fsynced data after a SIGKILL ([DropUnsynced]).
//
// Durability rules the implementations share (and that callers rely on):
//   - data written to a File is durable only after File.Sync returns nil;
//   - a newly created, removed or renamed directory entry is durable only after
//     the parent directory, opened with FS.OpenDir, is synced.
//
// Package vfs imports nothing from Kavka.
package vfs
