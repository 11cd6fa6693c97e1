package gcpause

import (
	"runtime/debug"
	"sync"
	"testing"
	"time"
)

// gcPercent reads the setting without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// waitPercent waits (boundedly) for the setting to become want.
func waitPercent(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		state.Lock()
		p, paused := gcPercent(), state.paused
		state.Unlock()
		if p == want && !paused {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GC percent is %d (paused %v), want %d", p, paused, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func pausedNow(t *testing.T) {
	t.Helper()
	if p := gcPercent(); p != -1 {
		t.Fatalf("during a pause GC percent is %d", p)
	}
}

func TestPausesNestLingerAndRestore(t *testing.T) {
	defer func(old time.Duration) { linger = old }(linger)
	old := debug.SetGCPercent(150)
	defer debug.SetGCPercent(old)

	linger = time.Hour // nothing ends by the clock in this part
	end1 := Start()
	pausedNow(t)
	end2 := Start()
	end1()
	end1() // a second call changes nothing
	pausedNow(t)
	end2()
	pausedNow(t) // lingering after the last build ended

	// A build that starts while the pause lingers joins it, and its end
	// restores the setting at once: the pause lingers only once.
	end3 := Start()
	pausedNow(t)
	end3()
	if p := gcPercent(); p != 150 {
		t.Fatalf("after a build that joined a lingering pause, GC percent is %d", p)
	}
	// Builds in a loop: each pair (one lingering, one joining) ends with
	// collection back on.
	for range 3 {
		Start()()
		pausedNow(t)
		Start()()
		if p := gcPercent(); p != 150 {
			t.Fatalf("after a pair of builds GC percent is %d", p)
		}
	}

	linger = 10 * time.Millisecond

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				Start()()
			}
		}()
	}
	wg.Wait()
	waitPercent(t, 150)
}

// The pause must not outlive the last build by much more than Linger.
func TestPauseEnds(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	start := time.Now()
	Start()()
	waitPercent(t, 100)
	if took := time.Since(start); took < Linger {
		t.Errorf("the pause ended after %v, before Linger (%v)", took, Linger)
	}
}
