package connect_test

import (
	"fmt"

	"github.com/kavka-io/kavka/connect"
)

// A chain of transforms configured with Kafka Connect's keys.
func ExampleNewChain() {
	chain, err := connect.NewChain(map[string]string{
		"transforms":                   "mask,route",
		"transforms.mask.type":         "org.apache.kafka.connect.transforms.MaskField$Value",
		"transforms.mask.fields":       "email",
		"transforms.route.type":        "org.apache.kafka.connect.transforms.RegexRouter",
		"transforms.route.regex":       "db\\.(.*)",
		"transforms.route.replacement": "cdc-$1",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, keep, err := chain.Apply(connect.Record{Topic: "db.users",
		Value: map[string]any{"id": int64(1), "email": "a@example.com"}})
	fmt.Println(out.Topic, out.Value, keep, err)
	// Output: cdc-users map[email: id:1] true <nil>
}

// The JSON converter writes Kafka's schema envelope.
func ExampleJSONConverter() {
	s := connect.NewStruct("user").Field("id", connect.Int64Schema).Build()
	c := &connect.JSONConverter{SchemasEnable: true}
	b, _ := c.FromConnect("users", s, map[string]any{"id": int64(7)})
	fmt.Println(string(b))
	// Output: {"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"}],"optional":false,"name":"user"},"payload":{"id":7}}
}
