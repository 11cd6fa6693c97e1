package server

import (
	"sync/atomic"
	"time"
)

// Sessions and relay directions run on goroutines that outlive them. A
// new goroutine starts with a 2 KB stack, which grew on every connection:
// 3.5 stack copies and 3 new goroutines per connection, about 6 µs of the
// server's processor time at a high connection rate. A goroutine that has
// finished its function waits a while for the next, with its stack as it
// has grown.
//
// The two kinds have pools of their own, because a relay direction may
// wait for hours on an idle connection: on a goroutine that once ran a
// session it would hold a 16 KB stack, 11.4 KB of memory per idle
// connection in the benchmark instead of 7.2. The deep work at a relay's
// end (the log line) therefore runs on a session goroutine too, so the
// relay goroutines' stacks stay as small as relaying needs.
//
// The pools and the relay's byte count are a Server's own (relays), so two
// Servers in one process, as in the parallel tests, share nothing that
// changes.
type relays struct {
	sessions   *goroutinePool // sessions, and the end of a relay (its log line)
	directions *goroutinePool // the relay's directions

	// copied counts the bytes that went through user space, so a test
	// can prove that bulk data stays on splice.
	copied atomic.Int64
}

func newRelays() *relays {
	return &relays{
		sessions:   newGoroutinePool(128, 2*time.Second),
		directions: newGoroutinePool(256, 2*time.Second),
	}
}

type goroutinePool struct {
	jobs    chan func() // unbuffered: a send succeeds only when a goroutine waits
	idle    atomic.Int32
	maxIdle int32
	expiry  time.Duration
}

func newGoroutinePool(maxIdle int32, expiry time.Duration) *goroutinePool {
	return &goroutinePool{jobs: make(chan func()), maxIdle: maxIdle, expiry: expiry}
}

// Go runs f on a waiting goroutine, or on a new one if none waits.
func (p *goroutinePool) Go(f func()) {
	select {
	case p.jobs <- f:
	default:
		go p.run(f)
	}
}

// run runs f, then the functions handed to it, until it has waited
// expiry for one or enough goroutines already wait. A burst's goroutines
// therefore end a few seconds after it.
func (p *goroutinePool) run(f func()) {
	var t *time.Timer
	for {
		f()
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		if t == nil {
			t = time.NewTimer(p.expiry)
		} else {
			t.Reset(p.expiry)
		}
		// The channel is unbuffered, so once this goroutine stops
		// waiting no Go can hand it anything: nothing is stranded.
		select {
		case f = <-p.jobs:
			p.idle.Add(-1)
		case <-t.C:
			p.idle.Add(-1)
			return
		}
	}
}
