// Package streams is Kavka's stream-processing library: Kafka Streams'
// model (KStream, KTable, GlobalKTable, windows, joins, state stores backed
// by changelog topics, exactly-once via transactions) as typed Go.
//
// A Builder describes a topology; Build validates it. The same Topology
// runs in memory under a TestDriver (unit tests, no broker) or against
// Kafka brokers under an App:
//
//	b := streams.NewBuilder()
//	lines := streams.Stream[string, string](b, "text-lines")
//	words := streams.FlatMapValues(lines, func(_, line string) []string { return strings.Fields(line) })
//	streams.SelectKey(words, func(_, w string) string { return w }).
//		GroupByKey().Count(streams.Named("counts")).ToStream().To("word-counts")
//	topo, err := b.Build()
//	…
//	app, err := streams.New(topo, streams.Brokers("localhost:9092"), streams.ApplicationID("wordcount"))
//	err = app.Run(ctx) // until ctx is done
//
// Operations that keep key and value types are methods (Filter, Peek,
// Branch, Merge, To, Repartition, GroupByKey); those that change them are
// functions (Map, MapValues, FlatMap, SelectKey, GroupBy, Aggregate, the
// windowing and join functions), because Go methods cannot have type
// parameters.
//
// Serdes default by type (DefaultSerde): []byte, string, int64 and int32
// have binary serdes compatible with Kafka's; other types use JSON. Set
// others with the KeySerde and ValueSerde options.
//
// The package talks to brokers only through franz-go (kgo, kadm) and must
// never import Kavka's internal packages: it works against any Kafka
// cluster. DESIGN.md describes the threading model, task lifecycle,
// store and changelog formats, exactly-once and the things that bite.
package streams
