// Package gcpause pauses garbage collection while a large configuration is
// built: frozen.Decode and policy.New use it.
//
// Building a 100,000-line configuration allocates its whole result in a
// few large blocks that all stay live: a collection in the middle frees
// nothing, yet it scans the half-written arrays (which maps their not yet
// written pages to the shared zero page, so that each is faulted twice,
// the second time with a TLB shootdown), makes the builder assist the
// marking, and puts write barriers on every pointer stored. For the
// daemon's start from a large frozen file that was about a third of the
// time. The collection the pause defers runs once, when it ends.
//
// The pause is reference-counted across goroutines, so that overlapping
// builds restore the setting only when the last one ends, and it does not
// stop a memory limit (debug.SetMemoryLimit, GOMEMLIMIT) from forcing a
// collection.
package gcpause

import (
	"runtime/debug"
	"sync"
)

var state struct {
	sync.Mutex
	depth int
	saved int
}

// Start pauses garbage collection until the returned function is called
// (once).
func Start() (end func()) {
	state.Lock()
	if state.depth == 0 {
		state.saved = debug.SetGCPercent(-1)
	}
	state.depth++
	state.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			state.Lock()
			state.depth--
			if state.depth == 0 {
				debug.SetGCPercent(state.saved)
			}
			state.Unlock()
		})
	}
}
