package handler

// dataAPIs serve the data path: produce, fetch, offsets. Versions are what
// the handlers implement; each file's comment has the version notes.
var dataAPIs = map[int16]api{
	0:  {name: "Produce", minVersion: 3, maxVersion: 12, serve: adapt((*Handlers).produce)},
	1:  {name: "Fetch", minVersion: 4, maxVersion: 16, serve: adapt((*Handlers).fetch)},
	2:  {name: "ListOffsets", minVersion: 1, maxVersion: 10, serve: adapt((*Handlers).listOffsets)},
	21: {name: "DeleteRecords", minVersion: 0, maxVersion: 2, serve: adapt((*Handlers).deleteRecords)},
	23: {name: "OffsetForLeaderEpoch", minVersion: 0, maxVersion: 4, serve: adapt((*Handlers).offsetForLeaderEpoch)},
	35: {name: "DescribeLogDirs", minVersion: 0, maxVersion: 4, serve: adapt((*Handlers).describeLogDirs)},
}
