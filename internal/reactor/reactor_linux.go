package reactor

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A Handler is called on the reactor's goroutine with the epoll events
// (unix.EPOLLIN and the others) of a descriptor it was added for.
type Handler interface {
	Ready(fd int, events uint32)
}

var (
	// ErrRegistered is returned by Add for a descriptor the reactor
	// already watches: Modify changes its events, and a new handler
	// needs a Remove first.
	ErrRegistered = errors.New("descriptor already registered")
	// ErrNotRegistered is returned by Modify and Remove for a
	// descriptor the reactor does not watch.
	ErrNotRegistered = errors.New("descriptor not registered")
)

// maxEvents is how many events one epoll_wait returns at most.
const maxEvents = 256

type registration struct {
	h   Handler
	gen uint32
}

// Reactor is one epoll set, the handlers of its descriptors, a heap of
// deadlines and a queue of functions from other goroutines.
type Reactor struct {
	epfd   int
	wakefd int // an eventfd in the set: Do writes it to wake Run
	regs   map[int32]registration
	gen    uint32 // of the latest registration, carried in its events
	events []unix.EpollEvent
	timers timers
	done   bool // Stop was called: Run returns after this round

	mu      sync.Mutex
	queue   []func()
	woken   bool // the eventfd was written since Run last read it
	stopped bool // Stop or Close was called: Do queues nothing more

	// wakes counts the writes of the eventfd, for the tests of their
	// coalescing.
	wakes atomic.Int64
}

// New makes a reactor. Its descriptors are released by Close.
func New() (*Reactor, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return &Reactor{epfd: epfd, wakefd: wakefd, regs: make(map[int32]registration),
		events: make([]unix.EpollEvent, maxEvents)}, nil
}

// Close releases the reactor's epoll set and eventfd; the descriptors
// added to it stay open, theirs to close. Queued functions are dropped
// and Do queues no more. Close is called once, after Run has returned or
// instead of it.
func (r *Reactor) Close() {
	r.mu.Lock()
	r.stopped, r.queue = true, nil
	r.mu.Unlock()
	unix.Close(r.wakefd)
	unix.Close(r.epfd)
}

// Add watches fd for events (epoll's flags, unix.EPOLLET included) and
// calls h with them.
func (r *Reactor) Add(fd int, events uint32, h Handler) error {
	if _, ok := r.regs[int32(fd)]; ok {
		return fmt.Errorf("reactor: add %d: %w", fd, ErrRegistered)
	}
	r.gen++
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(r.gen)}
	err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	if err == unix.EEXIST {
		// The set holds this very descriptor though no handler does: a
		// Remove failed after its handler was dropped. Taking the entry
		// over is what Add asks for.
		err = unix.EpollCtl(r.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
	}
	if err != nil {
		return fmt.Errorf("reactor: add %d: %w", fd, os.NewSyscallError("epoll_ctl", err))
	}
	r.regs[int32(fd)] = registration{h: h, gen: r.gen}
	return nil
}

// Modify changes the events fd is watched for.
func (r *Reactor) Modify(fd int, events uint32) error {
	reg, ok := r.regs[int32(fd)]
	if !ok {
		return fmt.Errorf("reactor: modify %d: %w", fd, ErrNotRegistered)
	}
	err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(reg.gen)})
	if err == unix.ENOENT {
		// The kernel dropped it: the descriptor was closed behind the
		// reactor's back. No event can reach its handler any more.
		delete(r.regs, int32(fd))
	}
	if err != nil {
		return fmt.Errorf("reactor: modify %d: %w", fd, os.NewSyscallError("epoll_ctl", err))
	}
	return nil
}

// Remove stops watching fd, which stays open: for a descriptor handed to
// someone else. Its handler is not called again, even when the kernel
// refuses the removal and the error is returned.
func (r *Reactor) Remove(fd int) error {
	if _, ok := r.regs[int32(fd)]; !ok {
		return fmt.Errorf("reactor: remove %d: %w", fd, ErrNotRegistered)
	}
	delete(r.regs, int32(fd))
	err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	if err != nil && err != unix.ENOENT { // ENOENT: out of the set already, as asked
		return fmt.Errorf("reactor: remove %d: %w", fd, os.NewSyscallError("epoll_ctl", err))
	}
	return nil
}

// CloseFD stops watching fd and closes it, without an epoll_ctl: closing
// the last descriptor of a socket takes it out of the set. For a
// descriptor with a duplicate elsewhere, Remove it instead.
func (r *Reactor) CloseFD(fd int) error {
	delete(r.regs, int32(fd))
	return unix.Close(fd)
}

// Schedule sets t's deadline to at, adding it to the heap or moving it
// there; when it passes, Run calls e.Expire.
func (r *Reactor) Schedule(t *Timer, at time.Time, e Expirer) { r.timers.schedule(t, at, e) }

// Cancel takes t out of the heap; its Expirer is not called.
func (r *Reactor) Cancel(t *Timer) { r.timers.cancel(t) }

// Do runs f on the reactor's goroutine, soon, and reports true; or, once
// the reactor has stopped, reports false and never runs f. Do calls
// between two of Run's waits write the eventfd once.
func (r *Reactor) Do(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return false
	}
	r.queue = append(r.queue, f)
	if !r.woken {
		// Under the lock, so that Close cannot close the eventfd
		// between the check of stopped and this write.
		r.woken = true
		r.wakes.Add(1)
		one := [8]byte{1}
		unix.Write(r.wakefd, one[:])
	}
	return true
}

// Stop ends Run after its current round, unless functions are queued
// (it then reports false, and the caller tries again once they ran).
// From then on Do queues nothing.
func (r *Reactor) Stop() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) > 0 {
		return false
	}
	r.stopped, r.done = true, true
	return true
}

// Run waits for events and calls their handlers, the queued functions
// and the expirers of the deadlines that passed, and then round, if it is
// not nil: where the owner decides whether to Stop. It returns nil once
// stopped, or epoll_wait's error, which only a bug can cause.
func (r *Reactor) Run(round func()) error {
	for {
		n, err := unix.EpollWait(r.epfd, r.events, r.waitMillis())
		if err != nil && err != unix.EINTR {
			return os.NewSyscallError("epoll_wait", err)
		}
		for i := range max(n, 0) {
			ev := &r.events[i]
			if int(ev.Fd) == r.wakefd {
				r.runQueue()
				continue
			}
			if reg, ok := r.regs[ev.Fd]; ok && reg.gen == uint32(ev.Pad) {
				reg.h.Ready(int(ev.Fd), ev.Events)
			}
		}
		if len(r.timers) > 0 {
			r.timers.expire(time.Now())
		}
		if round != nil {
			round()
		}
		if r.done {
			return nil
		}
	}
}

func (r *Reactor) runQueue() {
	// The eventfd is read before woken is cleared: a Do in between
	// writes it again, so its function is not left waiting.
	var b [8]byte
	unix.Read(r.wakefd, b[:])
	r.mu.Lock()
	q := r.queue
	r.queue, r.woken = nil, false
	r.mu.Unlock()
	for _, f := range q {
		f()
	}
}

// waitMillis is epoll_wait's timeout: until the nearest deadline, rounded
// up so that it has passed on waking, or for ever if there is none.
func (r *Reactor) waitMillis() int {
	at, ok := r.timers.next()
	if !ok {
		return -1
	}
	d := time.Until(at)
	if d <= 0 {
		return 0
	}
	return int(min((d+time.Millisecond-1)/time.Millisecond, math.MaxInt32))
}
