package relay

import (
	"sync/atomic"
	"time"
)

// Sessions and relay directions run on goroutines that outlive them. A
// new goroutine starts with the smallest stack, which a session then grows
// by copying it, on every connection; a goroutine that has finished its
// function waits a while for the next, with its stack as it has grown, so
// a busy server stops paying for new goroutines and stack growth. What it
// saved when measured is in docs/relay.md.
//
// The two kinds have pools of their own, because a relay direction may
// wait for hours on an idle connection: on a goroutine that once ran a
// session it would hold the session's deeper stack for as long. The deep
// work at a relay's end (the log line) therefore runs on a session
// goroutine too (Go), so the relay goroutines' stacks stay as small as
// relaying needs.
//
// Relays holds the two pools and the count of bytes copied through user
// space. Each server has its own, so two servers in one process, as in the
// parallel tests, share nothing that changes.
type Relays struct {
	sessions   *goroutinePool // sessions, and the end of a relay (its log line)
	directions *goroutinePool // the relay's directions

	// copied counts the bytes that went through user space, so a test
	// can prove that bulk data stays on splice.
	copied atomic.Int64
}

// New returns a relay with its own goroutine pools and byte count.
func New() *Relays {
	return &Relays{
		sessions:   newGoroutinePool(128, 2*time.Second),
		directions: newGoroutinePool(256, 2*time.Second),
	}
}

// Go runs f on the sessions' pool: a session, or the work that follows a
// relay's end (done runs on a relay direction, whose stack should stay
// small).
func (rs *Relays) Go(f func()) { rs.sessions.Go(f) }

// Copied is how many bytes have gone through user space rather than
// splice(2), counting the event loop's own (AddCopied).
func (rs *Relays) Copied() int64 { return rs.copied.Load() }

// AddCopied counts n bytes moved through user space by a relay outside
// this package: the event loop's pump.
func (rs *Relays) AddCopied(n int64) { rs.copied.Add(n) }

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
