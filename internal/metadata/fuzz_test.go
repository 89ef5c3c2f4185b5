package metadata

import (
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/kavka-io/kavka/internal/vfs"
)

// FuzzReplay opens a store whose log holds arbitrary bytes: Open must fail
// cleanly or succeed, never panic, and a store that opens must accept a
// write and reopen to the same topics.
func FuzzReplay(f *testing.F) {
	good, _ := encodeLine([]record{
		{Type: recTopic, Name: "a", TopicID: uuid{1}},
		{Type: recPartition, TopicID: uuid{1}, Partition: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
	})
	f.Add(good)
	f.Add(append(append([]byte{}, good...), good[:10]...))
	f.Add([]byte("00000000 {}\n"))
	f.Add([]byte("garbage"))
	bad, _ := encodeLine([]record{{Type: recPartition, TopicID: uuid{2}, Partition: 5}})
	f.Add(bad)
	f.Add([]byte(`{"records":[{"type":"topic","name":"x","topicId":"0000000000000000000000000000000a"},{"type":"partition","topicId":"0000000000000000000000000000000a","partition":0,"replicas":[1]}]}`))
	f.Add([]byte(`{"records":[{"type":"config","resourceType":2,"resourceName":"x","name":"a","value":"b"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := vfs.NewMem()
		if err := fsys.MkdirAll("/data/__cluster_metadata-0", 0o755); err != nil {
			t.Fatal(err)
		}
		w, err := fsys.Create("/data/__cluster_metadata-0/records.log")
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 0 && data[0] == '{' {
			// A JSON body with a valid checksum, to get past the CRC.
			data = fmt.Appendf(nil, "%08x %s\n", crc32.Checksum(data, castagnoli), data)
		}
		w.Write(data)
		w.Sync()
		w.Close()
		s, err := Open(fsys, "/data", Options{Self: self, Rand: newRand(1)})
		if err != nil {
			return
		}
		defer s.Close()
		if _, err := s.CreateTopic(CreateTopicRequest{Name: "fuzz-new", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
			t.Logf("create after replay: %v", err) // e.g. a colliding name in the log
		}
		want := s.Image().TopicNames()
		s.Close()
		s2, err := Open(fsys, "/data", Options{Self: self, Rand: newRand(1)})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer s2.Close()
		if got := s2.Image().TopicNames(); len(got) != len(want) {
			t.Fatalf("reopen: topics %v, want %v", got, want)
		}
	})
}
