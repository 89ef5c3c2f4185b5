package config

import (
	"strings"
	"testing"
)

// FuzzParseProperties: any input parses or fails, never panics, and every
// parsed key can be offered to Broker.Set without a panic.
func FuzzParseProperties(f *testing.F) {
	f.Add("a=b\n")
	f.Add("key\\\n  cont: v\\u0041\\\n")
	f.Add("num.partitions=3\nlog.retention.hours=-1\nlisteners=PLAINTEXT://:0\n")
	f.Add("x=\\u12")
	f.Fuzz(func(t *testing.T, in string) {
		kv, err := ParseProperties(strings.NewReader(in))
		if err != nil {
			return
		}
		b := Defaults()
		for k, v := range kv {
			_ = b.Set(k, v)
			_ = ValidateTopicConfig(k, v)
		}
		if _, err := b.ResolveTopic(nil); err != nil {
			t.Fatalf("broker config became invalid: %v", err)
		}
	})
}
