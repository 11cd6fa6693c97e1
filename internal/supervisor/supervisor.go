// Package supervisor runs "sockd --workers N": the supervisor process,
// which starts N worker processes on shared listening sockets, restarts a
// worker that dies, forwards reloads and stops them in order (this file);
// how a worker process is started (exec.go); and the worker's side of the
// arrangement (worker.go). "The worker died" lives here.
//
// The supervisor is a state machine driven by one loop: the process's
// signals, and the events its workers report (a control line, an exit, a
// timer). Starting a process and the clock are injected (Starter, Clock),
// so that restart back-off, reload aggregation and start-up failure are
// tested without processes.
//
// The workers share the supervisor's listening sockets rather than each
// binding its own with SO_REUSEPORT: a socket passed by systemd can only be
// shared, a worker restarted after --user dropped root could not bind a
// port below 1024 again, and the connections waiting in a dying worker's
// SO_REUSEPORT queue would be reset, where a shared queue hands them to the
// workers still accepting.
package supervisor

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sockd/sockd/internal/systemd"
)

// Restart pauses: the first restart waits restartMin, each quick death
// doubles it up to restartMax, and a worker that lived restartReset is
// restarted at once again the next time.
const (
	restartMin   = 100 * time.Millisecond
	restartMax   = 10 * time.Second
	restartReset = 10 * time.Second
	// stopGrace is added to the drain timeout before the supervisor kills
	// the workers that have not stopped.
	stopGrace = 5 * time.Second
)

// Process is one started worker, as the supervisor drives it.
type Process interface {
	Pid() int
	// Signal forwards SIGHUP or SIGUSR1.
	Signal(sig syscall.Signal) error
	Kill() error
	// Tell sends one control line ("stop", "kill"). A worker still
	// starting reads it once it serves.
	Tell(msg string) error
}

// Starter starts the worker of slot index (1..workers). The process
// reports through ev, from any goroutine, until it has exited; a failed
// start reports nothing.
type Starter interface {
	Start(index, workers int, ev Events) (Process, error)
}

// Clock is the time the supervisor measures lifetimes and waits with.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f on a goroutine of its own after d.
	AfterFunc(d time.Duration, f func())
}

type realClock struct{}

func (realClock) Now() time.Time                      { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }

// Config is what a supervisor is made of.
type Config struct {
	Workers int
	Drain   time.Duration // the workers' --drain-timeout; stopGrace is added before they are killed
	Log     *slog.Logger
	Start   Starter
	Clock   Clock // nil: the real clock
	// Notify tells the service manager a state (READY=1, RELOADING=1);
	// Stopping tells it STOPPING=1 (at most once: it is the caller's
	// sync.Once). ReopenLog runs on SIGHUP before the workers are told.
	Notify    func(state string)
	Stopping  func()
	ReopenLog func()
	// Signals feeds the loop; nil: the process's SIGHUP, SIGUSR1,
	// SIGTERM and SIGINT, caught from New on.
	Signals <-chan os.Signal
}

// slot is one of the N places a worker process fills.
type slot struct {
	index     int
	gen       int // which process of this slot the events are about
	proc      Process
	running   bool
	ready     bool
	startedAt time.Time
	backoff   time.Duration
	// reloadPending: a SIGHUP was forwarded and its result not yet
	// reported; reloadOnReady: SIGHUP came while the worker was starting,
	// before it could handle one.
	reloadPending, reloadOnReady bool
}

func (w *slot) pid() int { return w.proc.Pid() }

// event is what the workers and timers tell the loop.
type event struct {
	slot, gen int
	kind      eventKind
	line      string // kind controlLine
	status    string // kind exited
}

type eventKind int

const (
	controlLine eventKind = iota
	exited
	restartDue
	stopDeadline
)

// Events is how one process of one slot reports to the supervisor.
type Events struct {
	sv        *Supervisor
	slot, gen int
}

// Line reports a control line the worker sent ("ready", "reloaded ...").
func (e Events) Line(line string) {
	e.sv.post(event{slot: e.slot, gen: e.gen, kind: controlLine, line: line})
}

// Exited reports the process's end, with its status ("exit status 1").
func (e Events) Exited(status string) {
	e.sv.post(event{slot: e.slot, gen: e.gen, kind: exited, status: status})
}

// Supervisor runs the workers. Its state is touched by the loop only.
type Supervisor struct {
	cfg   Config
	log   *slog.Logger
	clock Clock
	slots []*slot

	sigs      <-chan os.Signal
	closeOnce sync.Once
	stopSigs  func()
	events    chan event
	done      chan struct{}

	allReady  bool // every worker has been ready once: READY=1 was sent
	stopping  bool
	reloading bool
	reloadErr []string
	failErr   error
}

// New makes a supervisor and, unless cfg.Signals is given, catches the
// signals at once, so that none is lost to its default action while the
// workers start. Close (or Run) lets them go.
func New(cfg Config) *Supervisor {
	sv := &Supervisor{cfg: cfg, log: cfg.Log, clock: cfg.Clock, events: make(chan event, 16), done: make(chan struct{}), stopSigs: func() {}}
	if sv.clock == nil {
		sv.clock = realClock{}
	}
	for _, f := range []*func(){&sv.cfg.Stopping, &sv.cfg.ReopenLog} {
		if *f == nil {
			*f = func() {}
		}
	}
	if sv.cfg.Notify == nil {
		sv.cfg.Notify = func(string) {}
	}
	sv.sigs = cfg.Signals
	if sv.sigs == nil {
		ch := make(chan os.Signal, 8)
		signal.Notify(ch, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
		sv.sigs, sv.stopSigs = ch, func() { signal.Stop(ch) }
	}
	for i := range cfg.Workers {
		sv.slots = append(sv.slots, &slot{index: i + 1})
	}
	return sv
}

// Close stops catching the signals.
func (sv *Supervisor) Close() { sv.closeOnce.Do(sv.stopSigs) }

// Run starts the workers and supervises them until a terminating signal
// has stopped them all; the error says why a worker could not start.
func (sv *Supervisor) Run() error {
	defer sv.Close()
	defer close(sv.done)
	sv.startAll()
	for !sv.finished() {
		select {
		case sig := <-sv.sigs:
			sv.signal(sig)
		case e := <-sv.events:
			sv.event(e)
		}
	}
	if sv.failErr == nil {
		sv.log.Info("stopped")
	}
	return sv.failErr
}

func (sv *Supervisor) startAll() {
	for _, w := range sv.slots {
		if err := sv.start(w); err != nil {
			sv.failErr = err
			sv.beginStop("a worker could not be started")
			return
		}
	}
}

// finished: stopped, and every worker gone.
func (sv *Supervisor) finished() bool { return sv.stopping && sv.running() == 0 }

// post hands an event to the loop, or drops it once the loop has ended.
func (sv *Supervisor) post(e event) {
	select {
	case sv.events <- e:
	case <-sv.done:
	}
}

func (sv *Supervisor) start(w *slot) error {
	gen := w.gen + 1
	p, err := sv.cfg.Start.Start(w.index, len(sv.slots), Events{sv: sv, slot: w.index, gen: gen})
	if err != nil {
		return err
	}
	w.gen = gen
	w.proc, w.running, w.ready, w.startedAt = p, true, false, sv.clock.Now()
	sv.log.Info("worker started", "worker", w.index, "worker_pid", p.Pid())
	return nil
}

func (sv *Supervisor) running() int {
	n := 0
	for _, w := range sv.slots {
		if w.running {
			n++
		}
	}
	return n
}

func (sv *Supervisor) signal(sig os.Signal) {
	switch sig {
	case syscall.SIGHUP:
		sv.reload()
	case syscall.SIGUSR1:
		for _, w := range sv.slots {
			if w.ready {
				w.proc.Signal(syscall.SIGUSR1)
			}
		}
	default:
		if !sv.stopping {
			sv.beginStop(sig.String())
			return
		}
		sv.log.Warn("second signal: the workers close every session now", "signal", sig.String())
		sv.tell("kill")
	}
}

// reload reopens the log files and forwards SIGHUP to every worker; the
// service manager hears READY=1 again once every worker has answered.
func (sv *Supervisor) reload() {
	sv.cfg.ReopenLog()
	sv.log.Info("SIGHUP: reloading every worker")
	pending := false
	for _, w := range sv.slots {
		switch {
		case w.ready:
			w.reloadPending = true
			pending = true
			w.proc.Signal(syscall.SIGHUP)
		case w.running:
			// Its signal handler may not be installed yet, and SIGHUP
			// would kill it: it is sent once the worker is ready.
			w.reloadOnReady = true
		}
	}
	if pending && !sv.stopping {
		sv.reloading, sv.reloadErr = true, nil
		sv.cfg.Notify(systemd.Reloading())
	}
}

// reloadAnswered ends the reload once no worker owes an answer.
func (sv *Supervisor) reloadAnswered() {
	if !sv.reloading {
		return
	}
	for _, w := range sv.slots {
		if w.reloadPending {
			return
		}
	}
	sv.reloading = false
	status := fmt.Sprintf("STATUS=serving with %d workers, configuration reloaded", len(sv.slots))
	if len(sv.reloadErr) > 0 {
		status = fmt.Sprintf("STATUS=serving with %d workers, reload failed (previous configuration kept): %s", len(sv.slots), sv.reloadErr[0])
		sv.log.Error("reload failed in some workers, which keep their configuration", "workers", len(sv.reloadErr))
	} else {
		sv.log.Info("every worker reloaded")
	}
	sv.cfg.Notify("READY=1\n" + status)
}

// tell sends a control message to every running worker.
func (sv *Supervisor) tell(msg string) {
	for _, w := range sv.slots {
		if w.running {
			w.proc.Tell(msg)
		}
	}
}

func (sv *Supervisor) beginStop(why string) {
	sv.stopping = true
	sv.cfg.Stopping()
	if sv.running() == 0 {
		return
	}
	sv.log.Info("stopping the workers: draining sessions", "why", why, "deadline", sv.cfg.Drain.String())
	sv.tell("stop")
	sv.clock.AfterFunc(sv.cfg.Drain+stopGrace, func() { sv.post(event{kind: stopDeadline}) })
}

func (sv *Supervisor) event(e event) {
	if e.kind == stopDeadline {
		for _, w := range sv.slots {
			if w.running {
				sv.log.Warn("worker did not stop in time: killing it", "worker", w.index, "worker_pid", w.pid())
				w.proc.Kill()
			}
		}
		return
	}
	w := sv.slots[e.slot-1]
	if e.gen != w.gen {
		return // about a process this slot no longer runs
	}
	switch e.kind {
	case controlLine:
		sv.controlLine(w, e.line)
	case exited:
		sv.exited(w, e.status)
	case restartDue:
		if sv.stopping || w.running {
			return
		}
		if err := sv.start(w); err != nil {
			sv.log.Error("cannot restart the worker", "worker", w.index, "err", err)
			sv.scheduleRestart(w)
		}
	}
}

func (sv *Supervisor) controlLine(w *slot, line string) {
	verb, rest, _ := strings.Cut(line, " ")
	switch verb {
	case "ready":
		w.ready = true
		if w.reloadOnReady {
			w.reloadOnReady = false
			w.proc.Signal(syscall.SIGHUP)
		}
		if sv.allReady {
			sv.log.Info("worker restarted and serving", "worker", w.index, "worker_pid", w.pid())
			return
		}
		for _, o := range sv.slots {
			if !o.ready {
				return
			}
		}
		sv.allReady = true
		sv.log.Info("every worker serving", "workers", len(sv.slots))
		if !sv.stopping {
			sv.cfg.Notify(fmt.Sprintf("READY=1\nSTATUS=serving with %d workers\nMAINPID=%d", len(sv.slots), os.Getpid()))
		}
	case "reloaded":
		result, status, _ := strings.Cut(rest, " ")
		if result != "ok" {
			sv.reloadErr = append(sv.reloadErr, fmt.Sprintf("worker %d: %s", w.index, status))
		}
		if w.reloadPending {
			w.reloadPending = false
			sv.reloadAnswered()
		}
	}
}

func (sv *Supervisor) exited(w *slot, status string) {
	w.running, w.ready, w.reloadPending, w.reloadOnReady = false, false, false, false
	defer sv.reloadAnswered()
	switch {
	case sv.stopping:
		sv.log.Info("worker stopped", "worker", w.index, "worker_pid", w.pid(), "status", status)
	case !sv.allReady:
		sv.failErr = fmt.Errorf("worker %d (pid %d) exited while starting: %s", w.index, w.pid(), status)
		sv.log.Error("worker exited while starting: stopping", "worker", w.index, "worker_pid", w.pid(), "status", status)
		sv.beginStop("a worker failed to start")
	default:
		if sv.clock.Now().Sub(w.startedAt) >= restartReset {
			w.backoff = 0
		}
		sv.scheduleRestart(w)
		sv.log.Error("worker exited unexpectedly: restarting it", "worker", w.index, "worker_pid", w.pid(),
			"status", status, "restart_in", w.backoff.String())
	}
}

func (sv *Supervisor) scheduleRestart(w *slot) {
	switch {
	case w.backoff == 0:
		w.backoff = restartMin
	case w.backoff < restartMax:
		w.backoff = min(2*w.backoff, restartMax)
	}
	e := event{slot: w.index, gen: w.gen, kind: restartDue}
	sv.clock.AfterFunc(w.backoff, func() { sv.post(e) })
}
