package handler

// dataAPIs serve the data path: produce, fetch, offsets.
var dataAPIs = map[int16]api{}
