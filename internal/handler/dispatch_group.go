package handler

// groupAPIs serve consumer groups and committed offsets.
var groupAPIs = map[int16]api{}
