package reactor

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

type record struct {
	fired *[]int
	id    int
}

func (r record) Expire(time.Time) { *r.fired = append(*r.fired, r.id) }

// checkIndexes fails unless every timer in h knows its place and the heap
// is ordered.
func checkIndexes(t *testing.T, h timers) {
	t.Helper()
	for i, tm := range h {
		if tm.index != i+1 {
			t.Fatalf("timer at %d has index %d", i, tm.index)
		}
		if i > 0 && h[i].at.Before(h[(i-1)/2].at) {
			t.Fatalf("timer at %d is earlier than its parent", i)
		}
	}
}

// The heap tells the owners of due timers earliest first, after any
// number of schedules, moves and cancels, and never a cancelled one.
func TestTimersExpireInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Unix(1000, 0)
	for round := range 50 {
		var h timers
		var fired []int
		ts := make([]Timer, 200)
		want := map[int]time.Time{}
		for range 1000 {
			i := rng.IntN(len(ts))
			switch rng.IntN(3) {
			case 0, 1:
				at := base.Add(time.Duration(rng.IntN(10_000)) * time.Millisecond)
				h.schedule(&ts[i], at, record{&fired, i})
				want[i] = at
			case 2:
				h.cancel(&ts[i])
				delete(want, i)
			}
			checkIndexes(t, h)
		}
		for i := range ts {
			if _, ok := want[i]; ts[i].Scheduled() != ok {
				t.Fatalf("round %d: timer %d scheduled %v, want %v", round, i, ts[i].Scheduled(), ok)
			}
		}
		// Expire in three steps: only what is due goes.
		for _, until := range []time.Duration{2 * time.Second, 6 * time.Second, 10 * time.Second} {
			now := base.Add(until)
			h.expire(now)
			checkIndexes(t, h)
			for _, tm := range h {
				if !tm.at.After(now) {
					t.Fatalf("round %d: a timer due at %v is left after expiring at %v", round, tm.at, now)
				}
			}
		}
		if len(h) != 0 {
			t.Fatalf("round %d: %d timers left", round, len(h))
		}
		if len(fired) != len(want) {
			t.Fatalf("round %d: %d fired, want %d", round, len(fired), len(want))
		}
		if !slices.IsSortedFunc(fired, func(a, b int) int { return want[a].Compare(want[b]) }) {
			t.Fatalf("round %d: fired out of order", round)
		}
		for _, i := range fired {
			if ts[i].Scheduled() {
				t.Fatalf("round %d: timer %d still scheduled after it fired", round, i)
			}
		}
	}
}

// rescheduler schedules its timer again, for a time already past, every
// time it expires.
type rescheduler struct {
	h     *timers
	t     Timer
	count int
}

func (r *rescheduler) Expire(now time.Time) {
	r.count++
	r.h.schedule(&r.t, now.Add(-time.Second), r)
}

// A timer that schedules itself into the past does not hold one round of
// expiry for ever.
func TestTimersExpireRoundIsBounded(t *testing.T) {
	var h timers
	r := &rescheduler{h: &h}
	now := time.Unix(1000, 0)
	h.schedule(&r.t, now, r)
	h.expire(now)
	if r.count != 1 {
		t.Fatalf("expired %d times in one round, want 1", r.count)
	}
	if !r.t.Scheduled() {
		t.Fatal("the timer scheduled again is not in the heap")
	}
}
