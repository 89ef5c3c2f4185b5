package runtime

import (
	"fmt"
	"strings"

	"github.com/kavka-io/kavka/connect"
)

// commonConfigDef are the keys every connector accepts (Kafka's
// ConnectorConfig).
var commonConfigDef = connect.ConfigDef{
	{Name: "name", Type: connect.TypeString, Required: true, Importance: connect.High, Group: "Common",
		Doc: "Globally unique name to use for this connector."},
	{Name: "connector.class", Type: connect.TypeString, Required: true, Importance: connect.High, Group: "Common",
		Doc: "Name or alias of the class for this connector."},
	{Name: "tasks.max", Type: connect.TypeInt, Default: "1", Importance: connect.High, Group: "Common",
		Doc: "Maximum number of tasks to use for this connector.", Valid: connect.AtLeast(1)},
	{Name: "key.converter", Type: connect.TypeClass, Importance: connect.Low, Group: "Common",
		Doc: "Converter class for keys; overrides the worker's."},
	{Name: "value.converter", Type: connect.TypeClass, Importance: connect.Low, Group: "Common",
		Doc: "Converter class for values; overrides the worker's."},
	{Name: "transforms", Type: connect.TypeList, Importance: connect.Low, Group: "Transforms",
		Doc: "Aliases for the transformations to apply to records, in order."},
	{Name: "predicates", Type: connect.TypeList, Importance: connect.Low, Group: "Predicates",
		Doc: "Aliases for the predicates used by transformations."},
}

var sinkConfigDef = connect.ConfigDef{
	{Name: "topics", Type: connect.TypeList, Importance: connect.High, Group: "Common",
		Doc: "List of topics to consume, separated by commas."},
	{Name: "topics.regex", Type: connect.TypeString, Importance: connect.High, Group: "Common",
		Doc: "Regular expression giving the topics to consume.", Valid: connect.ValidRegex},
}

// ConfigInfos is the body of PUT /connector-plugins/{plugin}/config/validate.
type ConfigInfos struct {
	Name       string       `json:"name"`
	ErrorCount int          `json:"error_count"`
	Groups     []string     `json:"groups"`
	Configs    []ConfigInfo `json:"configs"`
}

// ConfigInfo is one key's definition and value.
type ConfigInfo struct {
	Definition ConfigKeyInfo   `json:"definition"`
	Value      ConfigValueInfo `json:"value"`
}

// ConfigKeyInfo describes a key (also the elements of GET
// /connector-plugins/{plugin}/config).
type ConfigKeyInfo struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Required      bool     `json:"required"`
	DefaultValue  *string  `json:"default_value"`
	Importance    string   `json:"importance"`
	Documentation string   `json:"documentation"`
	Group         string   `json:"group"`
	Width         string   `json:"width"`
	DisplayName   string   `json:"display_name"`
	Dependents    []string `json:"dependents"`
	Order         int      `json:"order"`
}

// ConfigValueInfo is a key's value and problems.
type ConfigValueInfo struct {
	Name              string   `json:"name"`
	Value             *string  `json:"value"`
	RecommendedValues []string `json:"recommended_values"`
	Errors            []string `json:"errors"`
	Visible           bool     `json:"visible"`
}

// fullConfigDef is everything a connector of this plugin accepts.
func fullConfigDef(pl *Plugin) connect.ConfigDef {
	def := append(connect.ConfigDef{}, commonConfigDef...)
	if pl.Type() == "sink" {
		def = append(def, sinkConfigDef...)
	}
	def = append(def, errorConfigDef...)
	return append(def, pl.New().Config()...)
}

// PluginConfig describes a plugin's keys (GET /connector-plugins/{plugin}/config).
func PluginConfig(pl *Plugin) []ConfigKeyInfo {
	var out []ConfigKeyInfo
	for i, k := range pl.New().Config() {
		out = append(out, keyInfo(k, i+1))
	}
	return out
}

func keyInfo(k connect.ConfigKey, order int) ConfigKeyInfo {
	ki := ConfigKeyInfo{Name: k.Name, Type: string(k.Type), Required: k.Required, Importance: string(k.Importance),
		Documentation: k.Doc, Group: k.Group, Width: "NONE", DisplayName: k.Name, Dependents: []string{}, Order: order}
	if !k.Required {
		d := k.Default
		ki.DefaultValue = &d
	}
	if ki.Importance == "" {
		ki.Importance = string(connect.Medium)
	}
	return ki
}

func validateConfig(pl *Plugin, cfg map[string]string) ConfigInfos {
	def := fullConfigDef(pl)
	out := ConfigInfos{Name: pl.Class, Groups: []string{}, Configs: []ConfigInfo{}}
	seenGroup := map[string]bool{}
	for i, k := range def {
		if k.Group != "" && !seenGroup[k.Group] {
			seenGroup[k.Group] = true
			out.Groups = append(out.Groups, k.Group)
		}
		v, ok := cfg[k.Name]
		errs := k.ValidateKey(v, ok)
		if errs == nil {
			errs = []string{}
		}
		ci := ConfigInfo{Definition: keyInfo(k, i+1), Value: ConfigValueInfo{Name: k.Name, RecommendedValues: []string{}, Errors: errs, Visible: true}}
		if ok {
			vv := v
			if k.Type == connect.TypePassword {
				vv = "[hidden]"
			}
			ci.Value.Value = &vv
		} else if !k.Required {
			d := k.Default
			ci.Value.Value = &d
		}
		out.ErrorCount += len(errs)
		out.Configs = append(out.Configs, ci)
	}
	// Cross-key checks.
	addErr := func(name, msg string) {
		for i := range out.Configs {
			if out.Configs[i].Value.Name == name {
				out.Configs[i].Value.Errors = append(out.Configs[i].Value.Errors, msg)
				out.ErrorCount++
				return
			}
		}
	}
	if pl.Type() == "sink" {
		topics, regex := strings.TrimSpace(cfg["topics"]), strings.TrimSpace(cfg["topics.regex"])
		switch {
		case topics == "" && regex == "":
			addErr("topics", "Must configure one of topics or topics.regex")
		case topics != "" && regex != "":
			addErr("topics", "topics and topics.regex are mutually exclusive options, but both are set.")
		}
		if dlq := cfg["errors.deadletterqueue.topic.name"]; dlq != "" && len(connect.SplitList(topics)) > 0 {
			for _, t := range connect.SplitList(topics) {
				if t == dlq {
					addErr("errors.deadletterqueue.topic.name", fmt.Sprintf("The DLQ topic '%s' may not be included in the list of topics ('topics=%s') consumed by the connector", dlq, topics))
				}
			}
		}
	}
	if _, err := connect.NewChain(cfg); err != nil {
		addErr("transforms", err.Error())
	}
	for _, kind := range []string{"key.converter", "value.converter"} {
		if c := cfg[kind]; c != "" {
			if _, err := connect.NewConverter(c); err != nil {
				addErr(kind, err.Error())
			}
		}
	}
	return out
}

func (ci ConfigInfos) messages() string {
	var b strings.Builder
	for _, c := range ci.Configs {
		for _, e := range c.Value.Errors {
			fmt.Fprintf(&b, "%s\n", e)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}
