// Package clock is the seam for time. Code that decides by the wall clock
// (retention, segment age, timestamps, timeouts) takes a Clock so that tests
// can move time by hand; tests of timers and goroutines may instead use
// testing/synctest with the Real clock.
//
// Package clock imports nothing from Kavka.
package clock
