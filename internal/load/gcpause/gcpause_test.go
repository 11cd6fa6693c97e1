package gcpause

import (
	"runtime/debug"
	"sync"
	"testing"
)

// gcPercent reads the setting without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

func TestNestedAndConcurrentPausesRestoreTheSetting(t *testing.T) {
	old := debug.SetGCPercent(150)
	defer debug.SetGCPercent(old)

	end1 := Start()
	if p := gcPercent(); p != -1 {
		t.Fatalf("during a pause GC percent is %d", p)
	}
	end2 := Start()
	end1()
	end1() // a second call changes nothing
	if p := gcPercent(); p != -1 {
		t.Fatalf("one of two pauses ended, GC percent is %d", p)
	}
	end2()
	if p := gcPercent(); p != 150 {
		t.Fatalf("after the pauses GC percent is %d, want 150", p)
	}

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
	if p := gcPercent(); p != 150 {
		t.Fatalf("after concurrent pauses GC percent is %d, want 150", p)
	}
}
