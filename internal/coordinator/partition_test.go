package coordinator

import "testing"

func TestPartitionFor(t *testing.T) {
	f := func(key string, n, want int32) {
		t.Helper()
		if got := PartitionFor(key, n); got != want {
			t.Errorf("PartitionFor(%q, %d) = %d, want %d", key, n, got, want)
		}
	}
	// Java: "".hashCode() = 0, "a".hashCode() = 97, "group".hashCode() = 98629247,
	// "my-group".hashCode() = -1906497762.
	f("", 50, 0)
	f("a", 50, 97%50)
	f("group", 50, 98629247%50)
	f("my-group", 50, 1906497762%50)
	f("polygenelubricants", 50, 0) // hashCode is MinInt32; Utils.abs gives 0
}
