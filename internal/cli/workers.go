package cli

// The worker side of "sockd --workers N". A supervisor (supervise.go)
// loads the configuration, binds the listeners and re-executes this binary
// N times; each copy finds what it needs among its inherited descriptors,
// described by one private environment variable:
//
//	fd 3        a Unix stream socket to the supervisor (the control socket)
//	fd 4        the --log-file, opened by the supervisor before it gave up
//	            root, when logfile=1
//	next fds    the listening sockets, shared by every worker: the kernel
//	            gives each new connection to one of the workers waiting in
//	            accept, so connections spread over the processes.
//
// The control socket carries one message a line. The supervisor sends
// "stop" (drain, as on SIGTERM) and "kill" (close every session now); the
// worker sends "ready" once it serves and "reloaded ok|failed STATUS" after
// each reload (from the server's sd_notify messages, which a worker must
// not send to the service manager itself). End of file on the socket means
// the supervisor is gone, even if it was killed: the worker then drains and
// exits instead of lingering.

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/server"
)

// workerEnv is the private variable that makes a process a worker:
// "index=K workers=N listeners=L logfile=0|1".
const workerEnv = "SOCKD_INTERNAL_WORKER"

// maxWorkers bounds --workers: far more than cores is only memory spent.
const maxWorkers = 256

const (
	controlFD     = 3
	firstSharedFD = 4
)

func addWorkersFlag(fs *pflag.FlagSet, f *serveFlags) {
	fs.IntVar(&f.workers, "workers", 1, "serve with N worker processes sharing the listeners (each with its own open file limit); "+
		"the first process binds, supervises and restarts them, and splits --max-clients among them")
}

// validateWorkers checks --workers against the flags it cannot go with.
func (f *serveFlags) validateWorkers() error {
	switch {
	case f.workers < 1 || f.workers > maxWorkers:
		return usagef("--workers must be between 1 and %d", maxWorkers)
	case f.workers == 1:
		return nil
	case f.inetd:
		return usagef("--inetd serves one connection: --workers makes no sense with it")
	case f.ops.metricsListen != "":
		// Each worker counts only its own sessions: one endpoint would
		// report a fraction, and one per worker cannot share the address.
		return usagef("--metrics-listen cannot be combined with --workers %d: every worker would count only its own sessions (use --workers 1, or one sockd per metrics address)", f.workers)
	case f.maxClients > 0 && f.maxClients < f.workers:
		return usagef("--max-clients %d is split among %d workers: give at least one per worker", f.maxClients, f.workers)
	}
	return nil
}

// clientShare is worker index's part of --max-clients (0 = no limit): the
// shares differ by at most one and add up to max.
func clientShare(max, workers, index int) int {
	if max == 0 {
		return 0
	}
	share := max / workers
	if index <= max%workers {
		share++
	}
	return share
}

// workerSpec is the content of workerEnv.
type workerSpec struct {
	index, workers, listeners int
	logFile                   bool
}

func (w workerSpec) String() string {
	b := 0
	if w.logFile {
		b = 1
	}
	return fmt.Sprintf("index=%d workers=%d listeners=%d logfile=%d", w.index, w.workers, w.listeners, b)
}

func parseWorkerSpec(s string) (workerSpec, error) {
	var w workerSpec
	seen := map[string]bool{}
	for _, field := range strings.Fields(s) {
		k, v, ok := strings.Cut(field, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 || seen[k] {
			return w, fmt.Errorf("%s: bad field %q", workerEnv, field)
		}
		seen[k] = true
		switch k {
		case "index":
			w.index = n
		case "workers":
			w.workers = n
		case "listeners":
			w.listeners = n
		case "logfile":
			w.logFile = n == 1
		default:
			return w, fmt.Errorf("%s: unknown field %q", workerEnv, k)
		}
	}
	if len(seen) != 4 || w.workers < 1 || w.workers > maxWorkers || w.index < 1 || w.index > w.workers || w.listeners < 1 || w.listeners > 1024 {
		return w, fmt.Errorf("%s=%q: not a worker description", workerEnv, s)
	}
	return w, nil
}

// worker is this process's side of the supervision.
type worker struct {
	workerSpec
	ctl     net.Conn
	logFile *os.File // the inherited --log-file, nil without one
	writeMu sync.Mutex
	ops     *opsFlags // whose flushLog runs before every message
}

// workerFromEnv returns nil, nil in a process that is not a worker. The
// variable is removed so that the rules' shell commands do not see it, and
// every inherited descriptor is made close-on-exec for the same reason.
func workerFromEnv() (*worker, error) {
	v, ok := os.LookupEnv(workerEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(workerEnv)
	spec, err := parseWorkerSpec(v)
	if err != nil {
		return nil, err
	}
	w := &worker{workerSpec: spec}
	syscall.CloseOnExec(controlFD)
	f := os.NewFile(controlFD, "supervisor control socket")
	w.ctl, err = net.FileConn(f)
	f.Close() // FileConn made its own copy
	if err != nil {
		return nil, fmt.Errorf("worker %d: control socket: %w", spec.index, err)
	}
	if spec.logFile {
		syscall.CloseOnExec(firstSharedFD)
		w.logFile = os.NewFile(firstSharedFD, "log file")
	}
	return w, nil
}

// logger is the worker's log: the inherited --log-file, or what the
// daemon would use (standard error, inherited, or syslog), each line
// marked with the worker's number and process id.
func (w *worker) logger(stderr io.Writer, format logline.Format, f *serveFlags) (*slog.Logger, error) {
	w.ops = &f.ops
	var log *slog.Logger
	if f.ops.logFile != "" && w.logFile != nil {
		lf := logline.Adopt(w.logFile, f.ops.logFile)
		f.ops.logFileHandle = lf
		log = logline.New(f.ops.batch(lf), format, slog.LevelInfo)
	} else {
		var err error
		if log, err = f.ops.logger(stderr, format, f.syslog); err != nil {
			return nil, err
		}
	}
	return log.With("worker", w.index, "pid", os.Getpid()), nil
}

// serverOptions gives the worker its share of --max-clients and sends the
// server's reload notifications to the supervisor instead of systemd.
func (w *worker) serverOptions(opts *server.Options, f *serveFlags) {
	opts.MaxClients = clientShare(f.maxClients, w.workers, w.index)
	opts.Notify = func(state string) {
		if !strings.HasPrefix(state, "READY=1") {
			return
		}
		_, status, _ := strings.Cut(state, "STATUS=")
		status, _, _ = strings.Cut(status, "\n")
		result := "ok"
		if strings.Contains(status, "reload failed") {
			result = "failed"
		}
		w.send("reloaded " + result + " " + status)
	}
}

// send writes one control message; a supervisor that is gone is noticed
// by the reader, so the error is dropped here. The worker's log lines go
// out first, so that the supervisor's line about a message ("every worker
// reloaded") follows the worker's lines that led to it.
func (w *worker) send(msg string) {
	if w.ops != nil {
		w.ops.flushLog()
	}
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	io.WriteString(w.ctl, strings.ReplaceAll(msg, "\n", " ")+"\n")
}

// listeners are the shared listening sockets, each behind an accept gate
// so that a worker near its descriptor limit leaves new connections to
// the others.
func (w *worker) listeners(s *server.Server, fileLimit uint64) ([]net.Listener, error) {
	first := firstSharedFD
	if w.logFile != nil {
		first++
	}
	var lns []net.Listener
	for i := range w.workerSpec.listeners {
		fd := first + i
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "listener "+strconv.Itoa(i))
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("worker %d: inherited listener %d: %w", w.index, i, err)
		}
		if fileLimit > 0 {
			ln = s.GateListener(ln, fileLimit)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// started runs once the worker's signal loop is up (which reopens the log
// file on SIGHUP, as the daemon's does): it tells the supervisor it
// serves, and obeys the control socket. The returned function, which serveListeners calls once, undoes
// it when serving has ended.
func (w *worker) started(s *server.Server, f *serveFlags, log *slog.Logger) (stop func()) {
	ended := make(chan struct{})
	go func() {
		r := bufio.NewScanner(w.ctl)
		for r.Scan() {
			switch r.Text() {
			case "stop":
				log.Info("stopping: the supervisor asked, draining sessions", "sessions", s.Active())
				s.Close() // serveListeners then drains for --drain-timeout
			case "kill":
				log.Warn("the supervisor asked to close every session now", "sessions", s.Active())
				s.Kill()
			}
		}
		select {
		case <-ended:
		default:
			log.Warn("the supervisor is gone: draining sessions and exiting", "sessions", s.Active())
			s.Close()
		}
	}()
	log.Info("worker serving", "of", w.workers, "max_clients", clientShare(f.maxClients, w.workers, w.index))
	w.send("ready")
	return func() {
		close(ended)
		w.ctl.Close()
	}
}
