package config

import (
	"fmt"
	"strings"
)

// Markdown renders the reference page docs/configs.md from the definition
// table.
func Markdown() string {
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("<!-- Generated from internal/config by `go test ./internal/config -run TestDocsInSync -update`. DO NOT EDIT. -->\n\n")
	b.WriteString("Kavka accepts Kafka's config names with Kafka's defaults. Broker configs come from `--config FILE`\n")
	b.WriteString("(server.properties format) and `--set key=value`; topic configs are set per topic with\n")
	b.WriteString("CreateTopics, AlterConfigs or IncrementalAlterConfigs and default to the broker key named as\n")
	b.WriteString("their synonym.\n\n")
	b.WriteString("Kavka deviation: while neither `flush.messages` nor `flush.ms` is set on a topic or on the broker\n")
	b.WriteString("(`log.flush.interval.messages`, `log.flush.interval.ms`), every write is fsynced before it is\n")
	b.WriteString("acknowledged (group commit). Kafka never forces a flush by default.\n\n")
	section := func(title string, defs []*Def, extra func(d *Def) string) {
		b.WriteString("## " + title + "\n\n")
		b.WriteString("| name | type | default | valid values | dynamic | description |\n")
		b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
		for _, d := range defs {
			dflt := "`" + d.Default + "`"
			if d.NoDefault {
				dflt = "null"
			}
			dyn := "no"
			if d.Dynamic {
				dyn = "yes"
			}
			name := "`" + d.Name + "`"
			if d.Kavka {
				name += " (Kavka)"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s%s |\n", name, d.Type, dflt,
				strings.ReplaceAll(d.ValidString(), "|", `\|`), dyn, strings.ReplaceAll(d.Doc, "|", `\|`), extra(d))
		}
		b.WriteString("\n")
	}
	section("Broker configs", brokerDefs, func(*Def) string { return "" })
	section("Topic configs", topicDefs, func(d *Def) string {
		if len(d.Synonyms) == 0 {
			return ""
		}
		names := make([]string, len(d.Synonyms))
		for i, s := range d.Synonyms {
			names[i] = "`" + s.Name + "`"
		}
		return " Broker default: " + strings.Join(names, ", ") + "."
	})
	return b.String()
}
