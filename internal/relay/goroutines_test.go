package relay

import (
	"sync"
	"testing"
	"time"
)

// waitIdle waits (bounded) until n goroutines of p wait for work.
func waitIdle(t *testing.T, p *goroutinePool, n int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.idle.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines wait, want %d", p.idle.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGoroutinePoolReuses: the next function runs on the goroutine that
// finished the last one, not on a new goroutine. The idle count rises just
// before the goroutine starts to wait, so one attempt may miss it: the
// pool then starts a goroutine, which is correct, and the test tries again.
func TestGoroutinePoolReuses(t *testing.T) {
	t.Parallel()
	p := newGoroutinePool(4, 30*time.Second)
	done := make(chan struct{})
	p.Go(func() { close(done) })
	<-done
	for range 50 {
		waitIdle(t, p, 1)
		time.Sleep(time.Millisecond)
		running, release := make(chan struct{}), make(chan struct{})
		p.Go(func() { close(running); <-release })
		<-running
		reused := p.idle.Load() == 0
		close(release)
		if reused {
			return
		}
		waitIdle(t, p, 2)
		p = newGoroutinePool(4, 30*time.Second) // start again from one goroutine
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
	}
	t.Fatal("in 50 attempts, a function never ran on the goroutine that waited")
}

// TestGoroutinePoolCapsIdle: after a burst, at most maxIdle goroutines
// stay.
func TestGoroutinePoolCapsIdle(t *testing.T) {
	t.Parallel()
	p := newGoroutinePool(2, 30*time.Second)
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 6 {
		wg.Add(1)
		p.Go(func() { defer wg.Done(); <-release })
	}
	close(release)
	wg.Wait()
	waitIdle(t, p, 2)
	time.Sleep(20 * time.Millisecond)
	if n := p.idle.Load(); n != 2 {
		t.Fatalf("%d goroutines wait after a burst of 6, want the cap of 2", n)
	}
}

// TestGoroutinePoolExpires: a goroutine that waited its expiry ends, and
// the pool still runs what it is given afterwards.
func TestGoroutinePoolExpires(t *testing.T) {
	t.Parallel()
	p := newGoroutinePool(4, 5*time.Millisecond)
	ran := make(chan struct{}, 2)
	p.Go(func() { ran <- struct{}{} })
	<-ran
	waitIdle(t, p, 0)
	p.Go(func() { ran <- struct{}{} })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("a function given after the goroutines expired never ran")
	}
}
