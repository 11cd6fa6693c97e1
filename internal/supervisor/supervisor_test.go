package supervisor

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The supervisor's state machine, driven without processes: a fake
// starter whose processes report what the test says, and a clock that
// moves only when the test moves it. The loop's steps are taken by hand
// (startAll, signal, settle), so every test is deterministic.

type fakeProc struct {
	pid    int
	ev     Events
	sigs   []syscall.Signal
	told   []string
	killed bool
	onTell func(string)
}

func (p *fakeProc) Pid() int                        { return p.pid }
func (p *fakeProc) Signal(sig syscall.Signal) error { p.sigs = append(p.sigs, sig); return nil }
func (p *fakeProc) Kill() error                     { p.killed = true; return nil }
func (p *fakeProc) Tell(msg string) error {
	if p.onTell != nil {
		p.onTell(msg)
		return nil
	}
	p.told = append(p.told, msg)
	return nil
}

// sent counts the signals of kind sig the process got.
func (p *fakeProc) sent(sig syscall.Signal) int {
	n := 0
	for _, s := range p.sigs {
		if s == sig {
			n++
		}
	}
	return n
}

type fakeStarter struct {
	pid    int
	procs  map[int]*fakeProc // the newest process of each slot
	starts map[int]int       // how often each slot was started
	fail   map[int]error     // slot → the error its next start returns
}

func (s *fakeStarter) Start(index, workers int, ev Events) (Process, error) {
	if err := s.fail[index]; err != nil {
		delete(s.fail, index)
		return nil, err
	}
	s.pid++
	p := &fakeProc{pid: 1000 + s.pid, ev: ev}
	s.procs[index] = p
	s.starts[index]++
	return p, nil
}

type fakeTimer struct {
	at    time.Time
	f     func()
	fired bool
}

type fakeClock struct {
	now    time.Time
	timers []*fakeTimer
}

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) AfterFunc(d time.Duration, f func()) {
	c.timers = append(c.timers, &fakeTimer{at: c.now.Add(d), f: f})
}

// advance moves the clock and fires the timers due by then.
func (c *fakeClock) advance(d time.Duration) {
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if !t.fired && !t.at.After(c.now) {
			t.fired = true
			t.f()
		}
	}
}

type rig struct {
	t        *testing.T
	sv       *Supervisor
	start    *fakeStarter
	clock    *fakeClock
	log      *bytes.Buffer
	notes    []string
	stopping int
	reopens  int
}

func newRig(t *testing.T, workers int) *rig {
	r := &rig{t: t, start: &fakeStarter{procs: map[int]*fakeProc{}, starts: map[int]int{}, fail: map[int]error{}},
		clock: &fakeClock{now: time.Unix(1e9, 0)}, log: &bytes.Buffer{}}
	r.sv = New(Config{Workers: workers, Drain: 3 * time.Second, Log: slog.New(slog.NewTextHandler(r.log, nil)),
		Start: r.start, Clock: r.clock, Signals: make(chan os.Signal),
		Notify:    func(s string) { r.notes = append(r.notes, s) },
		Stopping:  func() { r.stopping++ },
		ReopenLog: func() { r.reopens++; r.sv.log.Info("test: log reopened") }})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("supervisor log:\n%s", r.log)
		}
	})
	return r
}

// settle runs the loop on every event posted so far.
func (r *rig) settle() {
	for {
		select {
		case e := <-r.sv.events:
			r.sv.event(e)
		default:
			return
		}
	}
}

func (r *rig) proc(index int) *fakeProc { return r.start.procs[index] }

// line and exit are what worker index's current process reports.
func (r *rig) line(index int, l string) { r.proc(index).ev.Line(l); r.settle() }
func (r *rig) exit(index int, status string) {
	r.proc(index).ev.Exited(status)
	r.settle()
}

// serving starts the supervisor and makes every worker ready.
func (r *rig) serving() {
	r.sv.startAll()
	for i := range r.sv.slots {
		r.line(i+1, "ready")
	}
}

// notes counts the notifications that start with prefix.
func (r *rig) noted(prefix string) int {
	n := 0
	for _, s := range r.notes {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// lastOfThree has workers 1 and 3 of three say l, fails with complaint if
// that noted a READY=1 beyond the ready already noted, then has worker 2
// say it last.
func (r *rig) lastOfThree(t *testing.T, l string, ready int, complaint string) {
	t.Helper()
	r.line(1, l)
	r.line(3, l)
	if r.noted("READY=1") != ready {
		t.Fatal(complaint)
	}
	r.line(2, l)
}

func (r *rig) logCount(msg string) int { return strings.Count(r.log.String(), "msg=\""+msg+"\"") }

// TestStartup: READY=1 once, when the last worker is ready.
func TestStartup(t *testing.T) {
	r := newRig(t, 3)
	r.sv.startAll()
	if len(r.start.procs) != 3 {
		t.Fatalf("%d workers started, want 3", len(r.start.procs))
	}
	r.lastOfThree(t, "ready", 0, "READY=1 before every worker was ready")
	if r.noted("READY=1\nSTATUS=serving with 3 workers\nMAINPID=") != 1 || r.logCount("every worker serving") != 1 {
		t.Fatalf("notes %q", r.notes)
	}
}

// TestStartupFailure: a worker that exits before every worker served
// stops the others and fails the supervisor, without a restart; and a
// worker that cannot even be started fails it at once.
func TestStartupFailure(t *testing.T) {
	r := newRig(t, 2)
	r.sv.startAll()
	r.line(2, "ready")
	r.exit(1, "exit status 2")
	if r.sv.failErr == nil || r.sv.failErr.Error() != "worker 1 (pid 1001) exited while starting: exit status 2" {
		t.Fatalf("failErr %v", r.sv.failErr)
	}
	if got := r.proc(2).told; len(got) != 1 || got[0] != "stop" {
		t.Fatalf("worker 2 told %q, want stop", got)
	}
	if r.stopping != 1 || r.noted("READY=1") != 0 {
		t.Fatalf("stopping %d, notes %q", r.stopping, r.notes)
	}
	r.clock.advance(time.Minute) // a restart would be long due
	r.settle()
	if r.start.starts[1] != 1 {
		t.Fatalf("worker 1 started %d times: a worker that never served was restarted", r.start.starts[1])
	}
	if r.sv.finished() {
		t.Fatal("finished while worker 2 still runs")
	}
	r.exit(2, "exit status 0")
	if !r.sv.finished() {
		t.Fatal("not finished once every worker is gone")
	}

	r = newRig(t, 3)
	r.start.fail[2] = errors.New("worker 2: no such file")
	r.sv.startAll()
	if r.sv.failErr == nil || r.start.starts[3] != 0 || r.proc(1).told[0] != "stop" {
		t.Fatalf("start error: failErr %v, worker 3 started %d times, worker 1 told %q", r.sv.failErr, r.start.starts[3], r.proc(1).told)
	}
}

// TestRestartBackoff: a worker that dies is restarted after 100 ms, each
// quick death doubles the pause up to 10 s, one that lived 10 s is
// restarted after 100 ms again, and a failed restart is retried with the
// next pause.
func TestRestartBackoff(t *testing.T) {
	r := newRig(t, 2)
	r.serving()
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 6400 * time.Millisecond, 10 * time.Second, 10 * time.Second}
	for i, pause := range want {
		old := r.proc(1)
		r.exit(1, "signal: killed")
		r.clock.advance(pause - time.Millisecond)
		r.settle()
		if r.proc(1) != old {
			t.Fatalf("death %d: restarted before %v", i+1, pause)
		}
		r.clock.advance(time.Millisecond)
		r.settle()
		if r.proc(1) == old {
			t.Fatalf("death %d: not restarted after %v", i+1, pause)
		}
		r.line(1, "ready")
	}
	if n := r.logCount("worker restarted and serving"); n != len(want) {
		t.Fatalf("%d restarts logged, want %d", n, len(want))
	}
	if r.proc(2).told != nil || r.start.starts[2] != 1 {
		t.Fatal("the other worker was disturbed")
	}

	// Ten seconds of life: the pause starts over.
	r.clock.advance(restartReset)
	old := r.proc(1)
	r.exit(1, "signal: killed")
	r.clock.advance(restartMin)
	r.settle()
	if r.proc(1) == old {
		t.Fatal("a worker that lived 10 s waits more than 100 ms")
	}

	// A restart that fails is tried again after the next pause.
	r.exit(1, "signal: killed") // died at once: 200 ms
	r.start.fail[1] = errors.New("worker 1: fork: resource temporarily unavailable")
	starts := r.start.starts[1]
	r.clock.advance(200 * time.Millisecond)
	r.settle()
	if r.start.starts[1] != starts || r.logCount("cannot restart the worker") != 1 {
		t.Fatal("a failed restart was not logged")
	}
	r.clock.advance(400*time.Millisecond - time.Millisecond)
	r.settle()
	if r.start.starts[1] != starts {
		t.Fatal("retried before 400 ms")
	}
	r.clock.advance(time.Millisecond)
	r.settle()
	if r.start.starts[1] != starts+1 {
		t.Fatal("not retried after 400 ms")
	}

	// An event about a process the slot no longer runs changes nothing.
	r.line(1, "ready")
	cur := r.proc(1)
	old.ev.Exited("exit status 1")
	r.settle()
	if !r.sv.slots[0].running || r.proc(1) != cur {
		t.Fatal("a stale exit was taken for the current process")
	}
}

// TestReloadAggregation: SIGHUP reopens the log first, reaches every
// ready worker, and READY=1 follows once every worker answered: "every
// worker reloaded", or the first failure when one failed.
func TestReloadAggregation(t *testing.T) {
	r := newRig(t, 3)
	r.serving()
	r.sv.signal(syscall.SIGHUP)
	if r.reopens != 1 || strings.Index(r.log.String(), "test: log reopened") > strings.Index(r.log.String(), "SIGHUP: reloading every worker") {
		t.Fatalf("reopens %d; want the reopen before the reload", r.reopens)
	}
	for i := 1; i <= 3; i++ {
		if r.proc(i).sent(syscall.SIGHUP) != 1 {
			t.Fatalf("worker %d got %d SIGHUPs", i, r.proc(i).sent(syscall.SIGHUP))
		}
	}
	if r.noted("RELOADING=1\nMONOTONIC_USEC=") != 1 {
		t.Fatalf("notes %q", r.notes)
	}
	r.lastOfThree(t, "reloaded ok serving", 1, "READY=1 before every worker answered")
	if r.noted("READY=1\nSTATUS=serving with 3 workers, configuration reloaded") != 1 || r.logCount("every worker reloaded") != 1 {
		t.Fatalf("notes %q", r.notes)
	}

	// One worker fails: the reload as a whole failed, named after it.
	r.sv.signal(syscall.SIGHUP)
	r.line(1, "reloaded ok serving")
	r.line(2, "reloaded failed reload failed: sockd.conf:2:1: unknown keyword")
	r.line(3, "reloaded ok serving")
	if r.noted("READY=1\nSTATUS=serving with 3 workers, reload failed (previous configuration kept): worker 2: reload failed: sockd.conf:2:1: unknown keyword") != 1 {
		t.Fatalf("notes %q", r.notes)
	}
	if r.logCount("reload failed in some workers, which keep their configuration") != 1 {
		t.Fatal("the failure was not logged")
	}

	// A worker that dies during a reload owes no answer; its replacement,
	// and one that is still starting, get SIGHUP once ready.
	r.sv.signal(syscall.SIGHUP)
	r.line(1, "reloaded ok serving")
	r.exit(2, "signal: killed")
	if r.noted("READY=1") != 3 {
		t.Fatal("waiting for the dead worker's answer")
	}
	r.line(3, "reloaded ok serving")
	if r.noted("READY=1") != 4 {
		t.Fatalf("notes %q", r.notes)
	}
	r.clock.advance(restartMin)
	r.settle()
	r.sv.signal(syscall.SIGHUP)
	if r.proc(2).sent(syscall.SIGHUP) != 0 {
		t.Fatal("SIGHUP sent to a worker still starting")
	}
	r.line(2, "ready")
	if r.proc(2).sent(syscall.SIGHUP) != 1 {
		t.Fatal("the starting worker did not get its SIGHUP once ready")
	}
}

// TestStop: SIGTERM tells every worker to drain, a second signal to close
// every session, and past the drain timeout and its grace the workers
// still there are killed.
func TestStop(t *testing.T) {
	r := newRig(t, 2)
	r.serving()
	r.sv.signal(syscall.SIGUSR1)
	if r.proc(1).sent(syscall.SIGUSR1) != 1 || r.proc(2).sent(syscall.SIGUSR1) != 1 {
		t.Fatal("SIGUSR1 not forwarded")
	}
	r.sv.signal(syscall.SIGTERM)
	if r.stopping != 1 || r.proc(1).told[0] != "stop" || r.proc(2).told[0] != "stop" {
		t.Fatalf("stopping %d, told %q %q", r.stopping, r.proc(1).told, r.proc(2).told)
	}
	r.exit(1, "exit status 0")
	r.sv.signal(syscall.SIGINT)
	if got := r.proc(2).told; len(got) != 2 || got[1] != "kill" {
		t.Fatalf("second signal: worker 2 told %q", got)
	}
	r.clock.advance(3*time.Second + stopGrace - time.Millisecond) // the drain timeout and its grace
	r.settle()
	if r.proc(2).killed {
		t.Fatal("killed before the drain timeout and its grace")
	}
	r.clock.advance(time.Millisecond)
	r.settle()
	if !r.proc(2).killed || r.proc(1).killed {
		t.Fatal("past the drain timeout, the worker still running was not killed (or a gone one was)")
	}
	if r.start.starts[1] != 1 {
		t.Fatal("a worker that stopped was restarted")
	}
	r.exit(2, "signal: killed")
	if !r.sv.finished() || r.sv.failErr != nil {
		t.Fatalf("finished %v, %v", r.sv.finished(), r.sv.failErr)
	}
}

// TestRunLoop: Run starts the workers, takes the signals from its
// channel and returns once a stop has ended every worker.
func TestRunLoop(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	var sv *Supervisor
	started := make(chan *fakeProc, 2)
	told := make(chan string, 4)
	st := starterFunc(func(index, workers int, ev Events) (Process, error) {
		p := &fakeProc{pid: index, ev: ev, onTell: func(m string) { told <- m }}
		started <- p
		return p, nil
	})
	sv = New(Config{Workers: 2, Drain: time.Second, Log: slog.New(slog.DiscardHandler), Start: st, Signals: sigs})
	done := make(chan error, 1)
	go func() { done <- sv.Run() }()
	procs := []*fakeProc{<-started, <-started}
	for _, p := range procs {
		p.ev.Line("ready")
	}
	sigs <- syscall.SIGTERM
	for range procs {
		if m := <-told; m != "stop" {
			t.Fatalf("told %q", m)
		}
	}
	for _, p := range procs {
		p.ev.Exited("exit status 0")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after every worker stopped")
	}
}

type starterFunc func(index, workers int, ev Events) (Process, error)

func (f starterFunc) Start(index, workers int, ev Events) (Process, error) {
	return f(index, workers, ev)
}
