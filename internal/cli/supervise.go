package cli

// The supervisor of "sockd --workers N" (the worker side is workers.go).
// It has loaded the configuration (so a broken file fails before anything
// starts) and bound the listeners; here it writes the pid file, gives up
// root (--user), starts the workers, and then only supervises: it forwards
// SIGHUP and SIGUSR1 to every worker, stops them on SIGTERM/SIGINT, and
// restarts a worker that dies, with a growing pause so that a worker that
// crashes at once does not spin. It never accepts a connection itself.
//
// The workers share the supervisor's listening sockets rather than each
// binding its own with SO_REUSEPORT: a socket passed by systemd can only be
// shared, a worker restarted after --user dropped root could not bind a
// port below 1024 again, and the connections waiting in a dying worker's
// SO_REUSEPORT queue would be reset, where a shared queue hands them to the
// workers still accepting.

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/server"
	"github.com/sockd/sockd/internal/systemd"
)

// Restart pauses: the first restart waits restartMin, each quick death
// doubles it up to restartMax, and a worker that lived restartReset is
// restarted at once again the next time.
const (
	restartMin   = 100 * time.Millisecond
	restartMax   = 10 * time.Second
	restartReset = 10 * time.Second
	// stopGrace is added to --drain-timeout before the supervisor kills
	// the workers that have not stopped.
	stopGrace = 5 * time.Second
)

// workerSlot is one of the N places a worker process fills.
type workerSlot struct {
	index     int
	gen       int // which process of this slot the events are about
	cmd       *exec.Cmd
	ctl       net.Conn
	running   bool
	ready     bool
	startedAt time.Time
	backoff   time.Duration
	// reloadPending: a SIGHUP was forwarded and its result not yet
	// reported; reloadOnReady: SIGHUP came while the worker was starting,
	// before it could handle one.
	reloadPending, reloadOnReady bool
}

func (w *workerSlot) pid() int { return w.cmd.Process.Pid }

// supEvent is what the helper goroutines tell the supervisor's loop.
type supEvent struct {
	slot, gen int
	kind      supEventKind
	line      string           // kind controlLine
	state     *os.ProcessState // kind exited
	err       error            // kind exited
}

type supEventKind int

const (
	controlLine supEventKind = iota
	exited
	restartDue
	stopDeadline
)

type supervisor struct {
	log            *slog.Logger
	exe, argv0     string
	args, env      []string
	listeners      []*os.File
	logFile        *os.File // passed to the workers; nil without --log-file
	ops            *opsFlags
	stdout, stderr io.Writer
	drain          time.Duration
	slots          []*workerSlot

	events chan supEvent
	done   chan struct{}

	allReady  bool // every worker has been ready once: READY=1 was sent
	stopping  bool
	reloading bool
	reloadErr []string
	failErr   error
}

// runSupervisor runs the workers until a terminating signal; lns are the
// bound listeners, which the supervisor keeps open for the workers (and
// their replacements) without accepting on them.
func runSupervisor(cmd *cobra.Command, f *serveFlags, lns []net.Listener, log *slog.Logger) error {
	// Signals are caught from the start, so that none is lost to its
	// default action while the workers start.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	sv := &supervisor{log: log, argv0: cmd.Root().Name(), ops: &f.ops, stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr(),
		drain: f.drain, events: make(chan supEvent, 16), done: make(chan struct{})}
	defer close(sv.done)
	defer sv.closeFiles()
	for _, ln := range lns {
		file, err := listenerFile(ln)
		ln.Close() // the copy in file keeps the socket open
		if err != nil {
			return err
		}
		sv.listeners = append(sv.listeners, file)
	}
	if f.ops.logFile != "" {
		// Opened here, while still root if --user is given, for the
		// workers, which start as that user.
		lf, err := logline.OpenAppend(f.ops.logFile)
		if err != nil {
			return err
		}
		sv.logFile = lf
	}
	if f.pidfile != "" {
		remove, err := server.WritePidFile(f.pidfile)
		if err != nil {
			return fmt.Errorf("cannot write the pid file: %w", err)
		}
		defer remove()
	}
	if f.ops.user != "" {
		if err := dropPrivileges(f.ops.user); err != nil {
			return err
		}
		log.Info("running as user "+f.ops.user, "uid", os.Getuid(), "gid", os.Getgid())
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--workers: cannot find this program to start the workers: %w", err)
	}
	sv.exe = exe
	sv.args = flagArgs(cmd.Flags())
	sv.env = workerEnviron()
	for i := range f.workers {
		sv.slots = append(sv.slots, &workerSlot{index: i + 1})
	}
	for _, w := range sv.slots {
		if err := sv.start(w); err != nil {
			sv.failErr = err
			sv.beginStop("a worker could not be started")
			break
		}
	}
	sv.loop(sigs)
	if sv.failErr == nil {
		log.Info("stopped")
	}
	return sv.failErr
}

// listenerFile is a copy of ln's socket to pass to the workers.
func listenerFile(ln net.Listener) (*os.File, error) {
	fl, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("listener %s cannot be passed to workers", ln.Addr())
	}
	f, err := fl.File()
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", ln.Addr(), err)
	}
	return f, nil
}

// flagArgs rebuilds the command line from the flags that were set, so the
// workers run with exactly the options the supervisor parsed.
func flagArgs(fs *pflag.FlagSet) []string {
	var args []string
	fs.Visit(func(fl *pflag.Flag) {
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+fl.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+fl.Name+"="+fl.Value.String())
	})
	return args
}

// workerEnviron is the supervisor's environment without what belongs to
// it alone: systemd's notification socket (only the main process may
// notify) and socket activation variables.
func workerEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", workerEnv:
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (sv *supervisor) closeFiles() {
	for _, f := range sv.listeners {
		f.Close()
	}
	if sv.logFile != nil {
		sv.logFile.Close()
	}
}

// post hands an event to the loop, or drops it once the loop has ended.
func (sv *supervisor) post(e supEvent) {
	select {
	case sv.events <- e:
	case <-sv.done:
	}
}

// start starts the worker of slot w.
func (sv *supervisor) start(w *workerSlot) error {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("worker %d: control socket: %w", w.index, err)
	}
	mine := os.NewFile(uintptr(fds[0]), "worker control")
	theirs := os.NewFile(uintptr(fds[1]), "worker control")
	defer theirs.Close()
	ctl, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return fmt.Errorf("worker %d: control socket: %w", w.index, err)
	}
	spec := workerSpec{index: w.index, workers: len(sv.slots), listeners: len(sv.listeners), logFile: sv.logFile != nil}
	c := exec.Command(sv.exe)
	c.Args = append([]string{sv.argv0}, sv.args...)
	c.Env = append(sv.env[:len(sv.env):len(sv.env)], workerEnv+"="+spec.String())
	c.ExtraFiles = []*os.File{theirs} // fd 3, the order workers.go expects
	if sv.logFile != nil {
		c.ExtraFiles = append(c.ExtraFiles, sv.logFile)
	}
	c.ExtraFiles = append(c.ExtraFiles, sv.listeners...)
	c.Stdout, c.Stderr = sv.stdout, sv.stderr
	// A process group of its own: a terminal's Ctrl-C reaches only the
	// supervisor, which stops the workers in order, rather than every
	// worker at once and then again from the supervisor.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		ctl.Close()
		return fmt.Errorf("worker %d: %w", w.index, err)
	}
	w.gen++
	w.cmd, w.ctl, w.running, w.ready, w.startedAt = c, ctl, true, false, time.Now()
	sv.log.Info("worker started", "worker", w.index, "worker_pid", c.Process.Pid)
	gen := w.gen
	go func() {
		sc := bufio.NewScanner(ctl)
		for sc.Scan() {
			sv.post(supEvent{slot: w.index, gen: gen, kind: controlLine, line: sc.Text()})
		}
	}()
	go func() {
		err := c.Wait()
		ctl.Close()
		sv.post(supEvent{slot: w.index, gen: gen, kind: exited, state: c.ProcessState, err: err})
	}()
	return nil
}

// loop handles signals and the workers' events until every worker is gone
// after a stop.
func (sv *supervisor) loop(sigs <-chan os.Signal) {
	for !sv.stopping || sv.running() > 0 {
		select {
		case sig := <-sigs:
			sv.signal(sig)
		case e := <-sv.events:
			sv.event(e)
		}
	}
}

func (sv *supervisor) running() int {
	n := 0
	for _, w := range sv.slots {
		if w.running {
			n++
		}
	}
	return n
}

func (sv *supervisor) signal(sig os.Signal) {
	switch sig {
	case syscall.SIGHUP:
		sv.reload()
	case syscall.SIGUSR1:
		for _, w := range sv.slots {
			if w.ready {
				syscall.Kill(w.pid(), syscall.SIGUSR1)
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
func (sv *supervisor) reload() {
	sv.log.Info("SIGHUP: reloading every worker")
	if sv.ops.logFileHandle != nil {
		if err := sv.ops.reopenLog(); err != nil {
			sv.log.Error("SIGHUP: keeping the old log file", "err", err)
		}
	}
	if sv.logFile != nil {
		// New workers get the file the name now points to.
		if lf, err := logline.OpenAppend(sv.ops.logFile); err == nil {
			sv.logFile.Close()
			sv.logFile = lf
		}
	}
	pending := false
	for _, w := range sv.slots {
		switch {
		case w.ready:
			w.reloadPending = true
			pending = true
			syscall.Kill(w.pid(), syscall.SIGHUP)
		case w.running:
			// Its signal handler may not be installed yet, and SIGHUP
			// would kill it: it is sent once the worker is ready.
			w.reloadOnReady = true
		}
	}
	if pending && !sv.stopping {
		sv.reloading, sv.reloadErr = true, nil
		sv.ops.notify(systemd.Reloading())
	}
}

// reloadAnswered ends the reload once no worker owes an answer.
func (sv *supervisor) reloadAnswered() {
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
	sv.ops.notify("READY=1\n" + status)
}

// tell sends a control message to every running worker. A worker still
// starting reads it once it serves: the socket keeps it.
func (sv *supervisor) tell(msg string) {
	for _, w := range sv.slots {
		if w.running {
			io.WriteString(w.ctl, msg+"\n")
		}
	}
}

func (sv *supervisor) beginStop(why string) {
	sv.stopping = true
	sv.ops.notifyStopping()
	if sv.running() == 0 {
		return
	}
	sv.log.Info("stopping the workers: draining sessions", "why", why, "deadline", sv.drain.String())
	sv.tell("stop")
	time.AfterFunc(sv.drain+stopGrace, func() { sv.post(supEvent{kind: stopDeadline}) })
}

func (sv *supervisor) event(e supEvent) {
	if e.kind == stopDeadline {
		for _, w := range sv.slots {
			if w.running {
				sv.log.Warn("worker did not stop in time: killing it", "worker", w.index, "worker_pid", w.pid())
				w.cmd.Process.Kill()
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
		sv.exited(w, e)
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

func (sv *supervisor) controlLine(w *workerSlot, line string) {
	verb, rest, _ := strings.Cut(line, " ")
	switch verb {
	case "ready":
		w.ready = true
		if w.reloadOnReady {
			w.reloadOnReady = false
			syscall.Kill(w.pid(), syscall.SIGHUP)
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
			sv.ops.notify(fmt.Sprintf("READY=1\nSTATUS=serving with %d workers\nMAINPID=%d", len(sv.slots), os.Getpid()))
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

func (sv *supervisor) exited(w *workerSlot, e supEvent) {
	w.running, w.ready, w.reloadPending, w.reloadOnReady = false, false, false, false
	defer sv.reloadAnswered()
	status := "unknown"
	if e.state != nil {
		status = e.state.String()
	} else if e.err != nil {
		status = e.err.Error()
	}
	switch {
	case sv.stopping:
		sv.log.Info("worker stopped", "worker", w.index, "worker_pid", w.pid(), "status", status)
	case !sv.allReady:
		sv.failErr = fmt.Errorf("worker %d (pid %d) exited while starting: %s", w.index, w.pid(), status)
		sv.log.Error("worker exited while starting: stopping", "worker", w.index, "worker_pid", w.pid(), "status", status)
		sv.beginStop("a worker failed to start")
	default:
		if time.Since(w.startedAt) >= restartReset {
			w.backoff = 0
		}
		sv.scheduleRestart(w)
		sv.log.Error("worker exited unexpectedly: restarting it", "worker", w.index, "worker_pid", w.pid(),
			"status", status, "restart_in", w.backoff.String())
	}
}

func (sv *supervisor) scheduleRestart(w *workerSlot) {
	switch {
	case w.backoff == 0:
		w.backoff = restartMin
	case w.backoff < restartMax:
		w.backoff = min(2*w.backoff, restartMax)
	}
	e := supEvent{slot: w.index, gen: w.gen, kind: restartDue}
	time.AfterFunc(w.backoff, func() { sv.post(e) })
}
