package config

// Source is where a value comes from, numbered as in Kafka's DescribeConfigs
// (ConfigSource).
type Source int8

// Sources.
const (
	SourceUnknown                    Source = 0
	SourceDynamicTopicConfig         Source = 1
	SourceDynamicBrokerConfig        Source = 2
	SourceDynamicDefaultBrokerConfig Source = 3
	SourceStaticBrokerConfig         Source = 4
	SourceDefaultConfig              Source = 5
)

// Entry describes one config as DescribeConfigs reports it.
type Entry struct {
	Name string
	// Value is nil for a null value or a sensitive one.
	Value     *string
	Source    Source
	ReadOnly  bool
	Sensitive bool
	Type      Type
	Doc       string
	// Synonyms are where the value could come from, highest precedence
	// first, only those that have a value; the first is the value's own.
	Synonyms []SynonymEntry
}

// SynonymEntry is one synonym of an Entry.
type SynonymEntry struct {
	Name   string
	Value  *string
	Source Source
}

// DescribeTopic describes every topic config of a topic with overrides,
// sorted by name.
func (b *Broker) DescribeTopic(overrides map[string]string) []Entry {
	out := make([]Entry, 0, len(topicDefs))
	for _, pd := range topicDefs {
		d := topicByName[pd.Name]
		e := Entry{Name: d.Name, Type: d.Type, Doc: d.Doc, Sensitive: d.Sensitive}
		if v, ok := overrides[d.Name]; ok {
			e.Synonyms = append(e.Synonyms, SynonymEntry{Name: d.Name, Value: ptr(v), Source: SourceDynamicTopicConfig})
		}
		for _, syn := range d.Synonyms {
			if v, ok := b.set[syn.Name]; ok {
				e.Synonyms = append(e.Synonyms, SynonymEntry{Name: syn.Name, Value: ptr(v), Source: SourceStaticBrokerConfig})
			} else if bd := brokerByName[syn.Name]; !bd.NoDefault {
				e.Synonyms = append(e.Synonyms, SynonymEntry{Name: syn.Name, Value: ptr(bd.Default), Source: SourceDefaultConfig})
			}
		}
		if v, ok := overrides[d.Name]; ok {
			e.Value, e.Source = ptr(v), SourceDynamicTopicConfig
		} else {
			s, _, set := b.brokerSynonym(d)
			e.Value, e.Source = ptr(s), SourceDefaultConfig
			if set {
				e.Source = SourceStaticBrokerConfig
			}
		}
		if d.Sensitive {
			e.Value = nil
		}
		out = append(out, e)
	}
	return out
}

// DescribeBroker describes every broker config, sorted by name.
func (b *Broker) DescribeBroker() []Entry {
	out := make([]Entry, 0, len(brokerDefs))
	for _, pd := range brokerDefs {
		d := brokerByName[pd.Name]
		e := Entry{Name: d.Name, Type: d.Type, Doc: d.Doc, Sensitive: d.Sensitive, ReadOnly: !d.Dynamic}
		if v, ok := b.set[d.Name]; ok {
			e.Value, e.Source = ptr(v), SourceStaticBrokerConfig
		} else {
			e.Source = SourceDefaultConfig
			if !d.NoDefault {
				e.Value = ptr(d.Default)
			}
		}
		for _, name := range brokerSynonyms(d.Name) {
			sd := brokerByName[name]
			if v, ok := b.set[name]; ok {
				e.Synonyms = append(e.Synonyms, SynonymEntry{Name: name, Value: ptr(v), Source: SourceStaticBrokerConfig})
			} else if !sd.NoDefault {
				e.Synonyms = append(e.Synonyms, SynonymEntry{Name: name, Value: ptr(sd.Default), Source: SourceDefaultConfig})
			}
		}
		if d.Sensitive {
			e.Value = nil
		}
		out = append(out, e)
	}
	return out
}

// brokerSynonyms returns the broker keys that can give key's value, key
// first, as Kafka lists them: log.retention.ms, log.retention.minutes,
// log.retention.hours for log.retention.ms.
func brokerSynonyms(key string) []string {
	for _, d := range topicTable {
		for i, syn := range d.Synonyms {
			if syn.Name == key {
				out := make([]string, 0, len(d.Synonyms)-i)
				for _, s := range d.Synonyms[i:] {
					out = append(out, s.Name)
				}
				return out
			}
		}
	}
	switch key {
	case "log.dirs":
		return []string{"log.dirs", "log.dir"}
	}
	return []string{key}
}

func ptr(s string) *string { return &s }
