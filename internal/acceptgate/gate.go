package acceptgate

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// fdReserve is the part of the descriptor limit an accept gate keeps free
// for what is not a relayed pair: listeners, log and syslog, DNS and identd
// sockets, BIND and UDP sockets, and the splice pipes of busy relays (four
// descriptors each while data flows).
func fdReserve(limit uint64) uint64 { return max(limit/20, 64) }

// SessionBudget is how many relayed sessions, at two descriptors each, fit
// under a descriptor limit once fdReserve is kept free.
func SessionBudget(limit uint64) int {
	r := fdReserve(limit)
	if limit <= r+2 {
		return 1
	}
	return int((limit - r) / 2)
}

// gatePoll is how often a paused gate looks again; gateRecount is how old
// a count of the open descriptors may be.
const (
	gatePoll    = 10 * time.Millisecond
	gateRecount = 50 * time.Millisecond
)

// Listener wraps ln so that Accept waits, instead of accepting, while
// the process is near its descriptor limit: too many sessions for
// SessionBudget(limit), or too many descriptors actually open. A worker
// that shares its listening socket with other workers then leaves the
// waiting connections to them, where accepting would have succeeded and
// the destination's connect would have failed with EMFILE. The open
// descriptors are counted only once the sessions fill half the budget, and
// at most every gateRecount, because counting reads /proc/self/fd.
//
// active returns the sessions running (the server's Active); log hears
// when the gate pauses and when it accepts again. Connections returned are
// those of ln, unwrapped, so the relay keeps its zero-copy path.
func Listener(ln net.Listener, limit uint64, active func() int, log *slog.Logger) net.Listener {
	return &gatedListener{Listener: ln, active: active, log: log, limit: limit, budget: SessionBudget(limit),
		countFDs: OpenFDs, closed: make(chan struct{})}
}

type gatedListener struct {
	net.Listener
	active func() int
	log    *slog.Logger
	limit  uint64
	budget int
	// countFDs returns the open descriptors, or an error (tests replace it).
	countFDs func() (int, error)

	closeOnce sync.Once
	closed    chan struct{}

	// Used by Accept only, which the server calls from one goroutine.
	counted   int
	countedAt time.Time
	paused    bool
}

func (g *gatedListener) Accept() (net.Conn, error) {
	for g.full() {
		if !g.paused {
			g.paused = true
			g.log.Warn("near the open file limit: not accepting until sessions end (other workers take the connections)",
				"sessions", g.active(), "descriptors", g.counted, "limit", g.limit)
		}
		select {
		case <-g.closed:
			return nil, net.ErrClosed
		case <-time.After(gatePoll):
		}
	}
	if g.paused {
		g.paused = false
		g.log.Info("accepting again", "sessions", g.active(), "descriptors", g.counted, "limit", g.limit)
	}
	return g.Listener.Accept()
}

// full reports whether accepting now would risk running out of
// descriptors.
func (g *gatedListener) full() bool {
	active := g.active()
	if active >= g.budget {
		return true
	}
	if active < g.budget/2 {
		return false
	}
	if time.Since(g.countedAt) >= gateRecount {
		n, err := g.countFDs()
		switch {
		case OutOfDescriptors(err):
			n = int(g.limit) // cannot even open the directory
		case err != nil:
			n = 0 // no procfs: the session count alone must do
		}
		g.counted, g.countedAt = n, time.Now()
	}
	return uint64(g.counted)+fdReserve(g.limit)/2 >= g.limit
}

func (g *gatedListener) Close() error {
	g.closeOnce.Do(func() { close(g.closed) })
	return g.Listener.Close()
}

// OpenFDs counts the descriptors open in this process: the entries of
// /proc/self/fd (one of which is the directory being read).
func OpenFDs() (int, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	n := 0
	for {
		names, err := d.Readdirnames(1024)
		n += len(names)
		if err != nil || len(names) == 0 {
			break
		}
	}
	return n, nil
}

// OutOfDescriptors reports an error of a process or system out of
// descriptors or of the memory to make one: the gate counts it as full,
// and the server's accept loops pause on it.
func OutOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}
