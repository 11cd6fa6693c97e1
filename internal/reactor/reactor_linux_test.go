package reactor

import (
	"errors"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/internal/testnet"
)

// newReactor is a reactor closed at the end of the test.
func newReactor(t *testing.T) *Reactor {
	t.Helper()
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// handlerFunc makes a function a Handler.
type handlerFunc func(fd int, events uint32)

func (f handlerFunc) Ready(fd int, events uint32) { f(fd, events) }

// run runs r on the test's goroutine until it stops. A watchdog stops it
// after 10 s, and fails the test.
func run(t *testing.T, r *Reactor, round func()) {
	t.Helper()
	watchdog := time.AfterFunc(10*time.Second, func() {
		r.Do(func() {
			t.Error("the reactor did not stop within 10 s")
			r.Stop()
		})
	})
	defer watchdog.Stop()
	if err := r.Run(round); err != nil {
		t.Fatal(err)
	}
}

func TestReadyCallsTheHandler(t *testing.T) {
	r := newReactor(t)
	a, b := testnet.SocketPairT(t)
	var got uint32
	err := r.Add(a, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLET, handlerFunc(func(fd int, events uint32) {
		if fd != a {
			t.Errorf("handler called for %d, want %d", fd, a)
		}
		got = events
		r.Stop()
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(b, []byte("x")); err != nil {
		t.Fatal(err)
	}
	run(t, r, nil)
	if got&unix.EPOLLIN == 0 {
		t.Fatalf("events %#x, want EPOLLIN", got)
	}
}

// Every epoll_ctl error reaches the caller, and the ones the reactor's
// table explains are its own errors.
func TestControlErrors(t *testing.T) {
	r := newReactor(t)
	h := handlerFunc(func(int, uint32) {})
	a, _ := testnet.SocketPairT(t)
	closed, _ := testnet.SocketPairT(t)
	unix.Close(closed)

	if err := r.Add(closed, unix.EPOLLIN, h); !errors.Is(err, unix.EBADF) {
		t.Errorf("add of a closed descriptor: %v, want EBADF", err)
	}
	if _, ok := r.regs[int32(closed)]; ok {
		t.Error("a failed add left a registration")
	}
	if err := r.Add(a, unix.EPOLLIN, h); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(a, unix.EPOLLIN, h); !errors.Is(err, ErrRegistered) {
		t.Errorf("second add: %v, want ErrRegistered", err)
	}
	if err := r.Modify(a, unix.EPOLLIN|unix.EPOLLOUT); err != nil {
		t.Errorf("modify: %v", err)
	}
	if err := r.Modify(closed, unix.EPOLLIN); !errors.Is(err, ErrNotRegistered) {
		t.Errorf("modify of an unknown descriptor: %v, want ErrNotRegistered", err)
	}
	if err := r.Remove(a); err != nil {
		t.Errorf("remove: %v", err)
	}
	if err := r.Remove(a); !errors.Is(err, ErrNotRegistered) {
		t.Errorf("second remove: %v, want ErrNotRegistered", err)
	}
}

// reuse registers a socket, then puts another socket at its descriptor
// number while a duplicate keeps the first one (and its entry in the
// epoll set) alive, as a handoff's duplicate would.
func reuse(t *testing.T, r *Reactor, h Handler) int {
	t.Helper()
	a, _ := testnet.SocketPairT(t)
	if err := r.Add(a, unix.EPOLLIN, h); err != nil {
		t.Fatal(err)
	}
	dup, err := unix.Dup(a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(dup) })
	other, _ := testnet.SocketPairT(t)
	if err := unix.Dup3(other, a, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	return a
}

// The kernel's ENOENT: Remove has nothing left to do, Modify fails and
// forgets the handler.
func TestControlNotInTheSet(t *testing.T) {
	r := newReactor(t)
	h := handlerFunc(func(int, uint32) {})
	if fd := reuse(t, r, h); r.Remove(fd) != nil {
		t.Errorf("remove of a descriptor the set no longer holds: %v", r.Remove(fd))
	}
	fd := reuse(t, r, h)
	if err := r.Modify(fd, unix.EPOLLIN); !errors.Is(err, unix.ENOENT) {
		t.Errorf("modify of a descriptor the set no longer holds: %v, want ENOENT", err)
	}
	if _, ok := r.regs[int32(fd)]; ok {
		t.Error("the handler of a descriptor the kernel dropped is kept")
	}
}

// The kernel's EEXIST for a descriptor without a handler (a Remove that
// failed after dropping it): Add takes the entry over.
func TestAddTakesOverAStaleEntry(t *testing.T) {
	r := newReactor(t)
	a, b := testnet.SocketPairT(t)
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, a, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(a)}); err != nil {
		t.Fatal(err)
	}
	called := false
	if err := r.Add(a, unix.EPOLLIN|unix.EPOLLET, handlerFunc(func(int, uint32) { called = true; r.Stop() })); err != nil {
		t.Fatalf("add over a stale entry: %v", err)
	}
	unix.Write(b, []byte("x"))
	run(t, r, nil)
	if !called {
		t.Fatal("the new handler was not called")
	}
}

// An event already collected for a descriptor that a handler of the same
// round closed, and whose number it gave a new socket, does not reach the
// new socket's handler.
func TestStaleEventDoesNotReachANewHandler(t *testing.T) {
	r := newReactor(t)
	a, wa := testnet.SocketPairT(t)
	b, wb := testnet.SocketPairT(t)
	fresh, _ := testnet.SocketPairT(t) // never readable
	newCalled := false
	newHandler := handlerFunc(func(int, uint32) { newCalled = true })
	first := -1
	h := handlerFunc(func(fd int, _ uint32) {
		if first >= 0 {
			t.Errorf("the old handler was called for %d after %d replaced it", fd, first)
			return
		}
		first = fd
		other := a
		if fd == a {
			other = b
		}
		if err := r.CloseFD(other); err != nil {
			t.Error(err)
		}
		if err := unix.Dup3(fresh, other, unix.O_CLOEXEC); err != nil {
			t.Error(err)
		}
		if err := r.Add(other, unix.EPOLLIN|unix.EPOLLET, newHandler); err != nil {
			t.Error(err)
		}
	})
	for _, fd := range []int{a, b} {
		if err := r.Add(fd, unix.EPOLLIN|unix.EPOLLET, h); err != nil {
			t.Fatal(err)
		}
	}
	unix.Write(wa, []byte("x"))
	unix.Write(wb, []byte("x"))
	run(t, r, func() { r.Stop() })
	if first < 0 {
		t.Fatal("no handler called")
	}
	if newCalled {
		t.Fatal("the new handler got the replaced descriptor's event")
	}
}

type expiry struct {
	fired *[]int
	id    int
	at    time.Time
	t     *testing.T
}

func (e *expiry) Expire(now time.Time) {
	if now.Before(e.at) {
		e.t.Errorf("timer %d expired at %v, before its deadline %v", e.id, now, e.at)
	}
	*e.fired = append(*e.fired, e.id)
}

// Run sleeps until the nearest deadline and expires timers in order of
// deadline, whatever order they were scheduled, moved or cancelled in.
func TestDeadlinesExpireInOrder(t *testing.T) {
	r := newReactor(t)
	var fired []int
	now := time.Now()
	ts := make([]Timer, 4)
	es := make([]*expiry, len(ts))
	for i, d := range []time.Duration{60, 20, 40, 30} {
		es[i] = &expiry{fired: &fired, id: i, at: now.Add(d * time.Millisecond), t: t}
		r.Schedule(&ts[i], es[i].at, es[i])
	}
	es[0].at = now.Add(10 * time.Millisecond) // moved to first
	r.Schedule(&ts[0], es[0].at, es[0])
	r.Cancel(&ts[2])
	if ts[2].Scheduled() {
		t.Fatal("a cancelled timer is scheduled")
	}
	if got := r.waitMillis(); got <= 0 || got > 10 {
		t.Fatalf("wait %d ms, want the nearest deadline's at most 10", got)
	}
	rounds := 0
	run(t, r, func() {
		rounds++
		if len(fired) == 3 || rounds > 1000 {
			r.Stop()
		}
	})
	if want := []int{0, 1, 3}; !slices.Equal(fired, want) {
		t.Fatalf("expired %v, want %v", fired, want)
	}
	if got := r.waitMillis(); got != -1 {
		t.Fatalf("wait %d ms with no deadline, want -1 (for ever)", got)
	}
}

// Many Do calls between two waits write the eventfd once, and all their
// functions run, in order.
func TestDoCoalescesWakeUps(t *testing.T) {
	r := newReactor(t)
	started, release := make(chan struct{}), make(chan struct{})
	r.Do(func() { close(started); <-release })
	const calls = 100
	var ran []int
	var wakes int64
	go func() { // from another goroutine than the reactor's, as a server's
		defer close(release)
		<-started // the reactor is busy from here until release
		before := r.wakes.Load()
		for i := range calls {
			if !r.Do(func() { ran = append(ran, i) }) {
				t.Error("Do refused while the reactor runs")
			}
		}
		wakes = r.wakes.Load() - before
		r.Do(func() {
			if !r.Stop() {
				t.Error("Stop refused with nothing queued")
			}
		})
	}()
	run(t, r, nil)
	if wakes != 1 {
		t.Errorf("%d eventfd writes for %d calls while the reactor was busy, want 1", wakes, calls)
	}
	if len(ran) != calls {
		t.Fatalf("%d of %d functions ran", len(ran), calls)
	}
	for i, v := range ran {
		if v != i {
			t.Fatalf("function %d ran as %d-th", v, i)
		}
	}
	if r.Do(func() { t.Error("a function queued after Stop ran") }) {
		t.Fatal("Do accepted a function after Stop")
	}
}

// Stop waits for queued functions: it refuses while any is queued.
func TestStopRefusesWithQueuedWork(t *testing.T) {
	r := newReactor(t)
	r.Do(func() {})
	if r.Stop() {
		t.Fatal("Stop accepted with a function queued")
	}
	r.runQueue()
	if !r.Stop() {
		t.Fatal("Stop refused with nothing queued")
	}
}
