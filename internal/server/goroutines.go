package server

import (
	"sync/atomic"
	"time"
)

// goroutines runs the server's per-connection functions (a session, each
// direction of a relay) on goroutines that outlive them. A new goroutine
// starts with a 2 KB stack, and a session's grew to 16 KB on every
// connection, three copies of the stack per connection that cost about
// 3% of the server's processor time at a high connection rate. A goroutine
// that has finished its function waits for the next one for a while
// with its stack as it has grown.
var goroutines = newGoroutinePool(128, 2*time.Second)

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
