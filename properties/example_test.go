package properties_test

import (
	"fmt"
	"strings"

	"github.com/kavka-io/kavka/properties"
)

func ExampleParse() {
	src := `# a broker
listeners=PLAINTEXT://127.0.0.1:9092
log.dirs: /var/lib/kavka
message = a long \
          line
`
	kv, err := properties.Parse(strings.NewReader(src))
	if err != nil {
		panic(err)
	}
	fmt.Println(kv["listeners"])
	fmt.Println(kv["log.dirs"])
	fmt.Println(kv["message"])
	// Output:
	// PLAINTEXT://127.0.0.1:9092
	// /var/lib/kavka
	// a long line
}
