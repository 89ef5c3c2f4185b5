package runtime

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseProperties(t *testing.T) {
	f := func(in string, want map[string]string) {
		t.Helper()
		got, err := ParseProperties(strings.NewReader(in))
		if err != nil {
			t.Fatalf("ParseProperties(%q): %v", in, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ParseProperties(%q) (-want +got):\n%s", in, diff)
		}
	}
	m := func(kv ...string) map[string]string {
		out := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	f("", m())
	f("a=b", m("a", "b"))
	f("a = b\n", m("a", "b"))
	f("a:b", m("a", "b"))
	f("a b", m("a", "b"))
	f("a\tb", m("a", "b"))
	f("  a  =  b c  ", m("a", "b c  ")) // trailing blanks belong to the value, as in Java
	f("# comment\n! also\n\n   \na=1", m("a", "1"))
	f("a=1\na=2", m("a", "2"))
	f("key", m("key", ""))
	f("key=", m("key", ""))
	f("a==b", m("a", "=b"))
	f("a=b=c", m("a", "b=c"))
	f(`a\=b=c`, m("a=b", "c"))
	f(`a\:b:c`, m("a:b", "c"))
	f(`a\ b c`, m("a b", "c"))
	f(`x=\t\n\r\f`, m("x", "\t\n\r\f"))
	f(`x=\u0041\u00e9`, m("x", "Aé"))
	f(`x=a\\b`, m("x", `a\b`))
	f(`x=\q`, m("x", "q"))
	f("list=a,\\\n    b,\\\n    c", m("list", "a,b,c"))
	f("x=a\\\\\ny=b", m("x", `a\`, "y", "b"))  // an even number of backslashes does not continue
	f("x=a\\", m("x", "a"))                    // continuation at end of input
	f("a=1\r\nb=2\r\n", m("a", "1", "b", "2")) // CRLF ends a line, as in Java
	f("transforms.route.regex=(.*)-(\\\\d+)", m("transforms.route.regex", `(.*)-(\d+)`))
	f("#a=1\n  # b=2\nc=3", m("c", "3"))
	f("  \\#notcomment=1", m("#notcomment", "1"))

	for _, bad := range []string{`x=\u12`, `x=\uZZZZ`} {
		if _, err := ParseProperties(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseProperties(%q) succeeded, want an error", bad)
		}
	}
}
