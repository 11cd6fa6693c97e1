package auth

import (
	"context"
	"net/netip"
	"runtime"
	"sync"
	"time"
)

// Defaults of a Guard. Failures are counted per source: an IPv4 address
// or an IPv6 /64.
const (
	// DefaultFailLimit failed logins from one source within
	// DefaultFailWindow make the guard refuse that source's logins, without
	// checking them, for the rest of the window.
	DefaultFailLimit  = 10
	DefaultFailWindow = time.Minute
	// maxSources bounds the memory of the failure counts: past it, counts
	// whose window has passed are dropped, and if none has, all are (an
	// attacker with that many addresses can reset its own counts, but
	// never make the table grow).
	maxSources = 4096
)

// DefaultConcurrency is how many bcrypt checks run at once by default: half
// the processors, at least one, so that a flood of password guesses leaves
// the other half to the clients that need no password.
func DefaultConcurrency() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// Guard bounds what password checks cost the daemon: at most a fixed
// number of bcrypt comparisons run at once (the others wait their turn,
// until their context ends), and a source that fails too often within a
// window is refused without a check until the window ends. It is safe for
// concurrent use.
type Guard struct {
	sem    chan struct{}
	limit  int
	window time.Duration
	now    func() time.Time
	// verify asks the Checker; tests replace it to hold checks open.
	verify func(c Checker, user, password string) bool

	mu    sync.Mutex
	fails map[netip.Addr]*failures
}

type failures struct {
	since  time.Time // the window's start: the first failure in it
	n      int
	logged bool // the refusal of this source was logged in this window
}

// NewGuard returns a Guard running at most concurrency checks at once and
// refusing a source after failLimit failures within window. Zero or
// negative values take the defaults.
func NewGuard(concurrency, failLimit int, window time.Duration) *Guard {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency()
	}
	if failLimit <= 0 {
		failLimit = DefaultFailLimit
	}
	if window <= 0 {
		window = DefaultFailWindow
	}
	return &Guard{sem: make(chan struct{}, concurrency), limit: failLimit, window: window,
		now: time.Now, verify: Checker.Verify, fails: make(map[netip.Addr]*failures)}
}

// Outcome is what a guarded check came to.
type Outcome int

const (
	// Accepted: the password is right.
	Accepted Outcome = iota
	// Rejected: the user is unknown or the password wrong.
	Rejected
	// Blocked: the source failed too often within the window; nothing
	// was checked.
	Blocked
	// Busy: the context ended while the check waited for its turn.
	Busy
)

// Verdict is the outcome of one guarded check.
type Verdict struct {
	Outcome Outcome
	// LogBlock is true for the first Blocked verdict of a source in a
	// window: the caller logs that one, and stays quiet about the rest.
	LogBlock bool
	// Failures is the source's failure count in the current window, and
	// Until when its block ends (for Blocked).
	Failures int
	Until    time.Time
}

// sourceOf is the unit failures are counted by: an IPv4 address, or an
// IPv6 /64, the smallest network a site is given, so that one host cannot
// escape its count by walking the addresses of its own network.
func sourceOf(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// Checker checks a user name and password: a password file (*Passwords)
// or the host's accounts.
type Checker interface {
	Verify(user, password string) bool
}

// CheckerFunc is a function as a Checker: the host's accounts, asked
// within a session's deadline.
type CheckerFunc func(user, password string) bool

// Verify calls f.
func (f CheckerFunc) Verify(user, password string) bool { return f(user, password) }

// Verify checks user's password with c for a client at src, waiting for a
// free slot until ctx ends.
func (g *Guard) Verify(ctx context.Context, c Checker, src netip.Addr, user, password string) Verdict {
	src = sourceOf(src)
	if v, blocked := g.blocked(src); blocked {
		return v
	}
	select {
	case g.sem <- struct{}{}:
	case <-ctx.Done():
		return Verdict{Outcome: Busy}
	}
	ok := g.verify(c, user, password)
	<-g.sem
	if ok {
		return Verdict{Outcome: Accepted}
	}
	return g.failed(src)
}

// blocked answers Blocked, without a check, for a source over its limit.
func (g *Guard) blocked(src netip.Addr) (Verdict, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.fails[src]
	if f == nil || g.now().Sub(f.since) >= g.window {
		return Verdict{}, false
	}
	if f.n < g.limit {
		return Verdict{}, false
	}
	v := Verdict{Outcome: Blocked, LogBlock: !f.logged, Failures: f.n, Until: f.since.Add(g.window)}
	f.logged = true
	return v, true
}

// failed counts a failure of src.
func (g *Guard) failed(src netip.Addr) Verdict {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	f := g.fails[src]
	if f == nil || now.Sub(f.since) >= g.window {
		if f == nil && len(g.fails) >= maxSources {
			g.prune(now)
		}
		f = &failures{since: now}
		g.fails[src] = f
	}
	f.n++
	return Verdict{Outcome: Rejected, Failures: f.n, Until: f.since.Add(g.window)}
}

func (g *Guard) prune(now time.Time) {
	for a, f := range g.fails {
		if now.Sub(f.since) >= g.window {
			delete(g.fails, a)
		}
	}
	if len(g.fails) >= maxSources {
		clear(g.fails)
	}
}

// Sources is the number of sources with failures counted (for tests and
// the resource table: it never exceeds maxSources).
func (g *Guard) Sources() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.fails)
}
