package coordinator

// PartitionFor returns the partition of an internal topic with n partitions
// that owns key (a group id or transactional id): Kafka's
// Utils.abs(key.hashCode) % n, with Java's String.hashCode over UTF-16 code
// units, so that a group lands on the same partition number as in Kafka.
func PartitionFor(key string, n int32) int32 {
	if n <= 0 {
		panic("BUG: PartitionFor with no partitions")
	}
	var h int32
	for _, r := range key {
		if r >= 0x10000 { // a surrogate pair in UTF-16
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	// Utils.abs maps MinInt32 to 0 rather than to itself.
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % n
}
