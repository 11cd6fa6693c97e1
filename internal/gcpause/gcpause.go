// Package gcpause pauses garbage collection while a large configuration is
// built: frozen.Decode and policy.New use it.
//
// Building a 100,000-line configuration allocates its whole result in a
// few large blocks that all stay live: a collection in the middle frees
// nothing, yet it scans the half-written arrays (which maps their not yet
// written pages to the shared zero page, so that each is faulted twice,
// the second time with a TLB shootdown), makes the builder assist the
// marking, and puts write barriers on every pointer stored: a large share
// of the daemon's start from a large frozen file (docs/measurements.md).
// The collection the pause defers runs once, when it ends.
//
// The pause lingers briefly after the last build ends (Linger), so that a
// build that follows, as the daemon decodes a file and then compiles it,
// joins it: otherwise the deferred collection would start between them,
// and the second pause would have to wait for its whole marking
// (debug.SetGCPercent(-1) waits for a running collection). It lingers
// only once: a pause that a build joined ends
// with that build, so that builds in a loop cannot put off collection
// indefinitely.
//
// The pause is reference-counted across goroutines, so that overlapping
// builds restore the setting only when the last one ends, and it does not
// stop a memory limit (debug.SetMemoryLimit, GOMEMLIMIT) from forcing a
// collection.
package gcpause

import (
	"runtime/debug"
	"sync"
	"time"
)

// Linger is how long collection stays paused after the last build ends.
const Linger = 50 * time.Millisecond

var state struct {
	sync.Mutex
	depth  int  // builds running
	paused bool // the GC percent is -1 and saved holds the setting
	joined bool // a build started while the pause lingered: no more lingering
	saved  int
	ends   int // counts the ends of the last build, to tell timers apart
}

// restore ends the pause; state is locked.
func restore() {
	debug.SetGCPercent(state.saved)
	state.paused, state.joined = false, false
}

// linger is Linger, but tests shorten it.
var linger = Linger

// Start pauses garbage collection until the returned function has been
// called (once) and Linger has passed without another Start; or, for a
// build that joined a lingering pause, until that build ends.
func Start() (end func()) {
	state.Lock()
	switch {
	case !state.paused:
		state.saved = debug.SetGCPercent(-1)
		state.paused = true
	case state.depth == 0:
		state.joined = true // the pause was lingering
	}
	state.depth++
	state.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			state.Lock()
			defer state.Unlock()
			state.depth--
			if state.depth > 0 {
				return
			}
			state.ends++
			if state.joined {
				restore()
				return
			}
			mine := state.ends
			time.AfterFunc(linger, func() {
				state.Lock()
				defer state.Unlock()
				// Unless another build started since: it ends the pause.
				if state.depth == 0 && state.ends == mine && state.paused {
					restore()
				}
			})
		})
	}
}
