package reactor

import (
	"container/heap"
	"time"
)

// An Expirer is told that the deadline of its Timer has passed.
type Expirer interface {
	Expire(now time.Time)
}

// A Timer is one deadline in a reactor's heap, embedded in what it times
// out so that scheduling allocates nothing. The zero Timer is not
// scheduled.
type Timer struct {
	at    time.Time
	e     Expirer
	index int // 1 + the position in the heap; 0 while not scheduled
}

// Scheduled reports whether t is in a heap, waiting for its deadline.
func (t *Timer) Scheduled() bool { return t.index > 0 }

// timers is a min-heap of timers by deadline, the earliest first. It uses
// container/heap: its calls through heap.Interface cost little next to
// the system calls of the connection a timer belongs to, and a
// connection's deadline changes a few times in its life, not per message.
type timers []*Timer

func (h timers) Len() int           { return len(h) }
func (h timers) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timers) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i+1, j+1
}

func (h *timers) Push(x any) {
	t := x.(*Timer)
	t.index = len(*h) + 1
	*h = append(*h, t)
}

func (h *timers) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil // the heap no longer keeps its owner alive
	*h = old[:len(old)-1]
	t.index = 0
	return t
}

// schedule sets t's deadline, adding it to the heap or moving it there.
func (h *timers) schedule(t *Timer, at time.Time, e Expirer) {
	t.at, t.e = at, e
	if t.index > 0 {
		heap.Fix(h, t.index-1)
		return
	}
	heap.Push(h, t)
}

// cancel takes t out of the heap, if it is there.
func (h *timers) cancel(t *Timer) {
	if t.index > 0 {
		heap.Remove(h, t.index-1)
	}
	t.e = nil
}

// next is the earliest deadline, and false if no timer is scheduled.
func (h timers) next() (time.Time, bool) {
	if len(h) == 0 {
		return time.Time{}, false
	}
	return h[0].at, true
}

// expire tells the owners of the timers due at now, earliest first. An
// owner may schedule or cancel any timer meanwhile, its own too; the
// count of timers there were at the start bounds the round, so one that
// schedules itself again for a time already past waits for the next.
func (h *timers) expire(now time.Time) {
	for n := len(*h); n > 0 && len(*h) > 0 && !(*h)[0].at.After(now); n-- {
		t := heap.Pop(h).(*Timer)
		e := t.e
		t.e = nil
		e.Expire(now)
	}
}
