package handler

// adminAPIs serve cluster metadata and administration: topics, configs.
var adminAPIs = map[int16]api{}
