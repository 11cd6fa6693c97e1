package supervisor

// The worker side. A supervisor (supervisor.go) has loaded the
// configuration, bound the listeners and re-executed this binary N times;
// each copy finds what it needs among its inherited descriptors, described
// by one private environment variable (EnvName):
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
)

// EnvName is the private variable that makes a process a worker:
// "index=K workers=N listeners=L logfile=0|1".
const EnvName = "SOCKD_INTERNAL_WORKER"

// MaxWorkers bounds --workers: far more than cores is only memory spent.
const MaxWorkers = 256

const (
	controlFD     = 3
	firstSharedFD = 4
)

// ClientShare is worker index's part of --max-clients (0 = no limit): the
// shares differ by at most one and add up to max.
func ClientShare(max, workers, index int) int {
	if max == 0 {
		return 0
	}
	share := max / workers
	if index <= max%workers {
		share++
	}
	return share
}

// Spec is the content of EnvName.
type Spec struct {
	Index, Workers, Listeners int
	LogFile                   bool
}

func (w Spec) String() string {
	b := 0
	if w.LogFile {
		b = 1
	}
	return fmt.Sprintf("index=%d workers=%d listeners=%d logfile=%d", w.Index, w.Workers, w.Listeners, b)
}

// ParseSpec reads EnvName's value.
func ParseSpec(s string) (Spec, error) {
	var w Spec
	seen := map[string]bool{}
	for _, field := range strings.Fields(s) {
		k, v, ok := strings.Cut(field, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 || seen[k] {
			return w, fmt.Errorf("%s: bad field %q", EnvName, field)
		}
		seen[k] = true
		switch k {
		case "index":
			w.Index = n
		case "workers":
			w.Workers = n
		case "listeners":
			w.Listeners = n
		case "logfile":
			w.LogFile = n == 1
		default:
			return w, fmt.Errorf("%s: unknown field %q", EnvName, k)
		}
	}
	if len(seen) != 4 || w.Workers < 1 || w.Workers > MaxWorkers || w.Index < 1 || w.Index > w.Workers || w.Listeners < 1 || w.Listeners > 1024 {
		return w, fmt.Errorf("%s=%q: not a worker description", EnvName, s)
	}
	return w, nil
}

// Worker is this process's side of the supervision.
type Worker struct {
	Spec
	ctl     net.Conn
	logFile *os.File // the inherited --log-file, nil without one
	writeMu sync.Mutex
	// BeforeSend runs before every message: the daemon writes out its
	// log, so that the supervisor's line about a message ("every worker
	// reloaded") follows the worker's lines that led to it.
	BeforeSend func()
}

// FromEnv returns nil, nil in a process that is not a worker. The variable
// is removed so that the rules' shell commands do not see it, and every
// inherited descriptor is made close-on-exec for the same reason.
func FromEnv() (*Worker, error) {
	v, ok := os.LookupEnv(EnvName)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(EnvName)
	spec, err := ParseSpec(v)
	if err != nil {
		return nil, err
	}
	w := &Worker{Spec: spec}
	syscall.CloseOnExec(controlFD)
	f := os.NewFile(controlFD, "supervisor control socket")
	w.ctl, err = net.FileConn(f)
	f.Close() // FileConn made its own copy
	if err != nil {
		return nil, fmt.Errorf("worker %d: control socket: %w", spec.Index, err)
	}
	if spec.LogFile {
		syscall.CloseOnExec(firstSharedFD)
		w.logFile = os.NewFile(firstSharedFD, "log file")
	}
	return w, nil
}

// LogFile is the inherited --log-file, nil without one.
func (w *Worker) LogFile() *os.File { return w.logFile }

// ReloadNotify takes the server's sd_notify messages (server.Options'
// Notify) and tells the supervisor each reload's result instead.
func (w *Worker) ReloadNotify(state string) {
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

// send writes one control message; a supervisor that is gone is noticed
// by the reader, so the error is dropped here.
func (w *Worker) send(msg string) {
	if w.BeforeSend != nil {
		w.BeforeSend()
	}
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	io.WriteString(w.ctl, strings.ReplaceAll(msg, "\n", " ")+"\n")
}

// Listeners are the shared listening sockets, each passed through gate
// (nil: none), so that a worker near its descriptor limit can leave new
// connections to the others.
func (w *Worker) Listeners(gate func(net.Listener) net.Listener) ([]net.Listener, error) {
	first := firstSharedFD
	if w.logFile != nil {
		first++
	}
	var lns []net.Listener
	for i := range w.Spec.Listeners {
		fd := first + i
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "listener "+strconv.Itoa(i))
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("worker %d: inherited listener %d: %w", w.Index, i, err)
		}
		if gate != nil {
			ln = gate(ln)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// Server is what the control socket drives.
type Server interface {
	Close()
	Kill()
	Active() int
}

// Started runs once the worker's signal loop is up: it tells the
// supervisor the worker serves, and obeys the control socket. The
// returned function undoes it when serving has ended.
func (w *Worker) Started(s Server, log *slog.Logger, maxClients int) (stop func()) {
	ended := make(chan struct{})
	go func() {
		r := bufio.NewScanner(w.ctl)
		for r.Scan() {
			switch r.Text() {
			case "stop":
				log.Info("stopping: the supervisor asked, draining sessions", "sessions", s.Active())
				s.Close() // the daemon then drains for --drain-timeout
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
	log.Info("worker serving", "of", w.Workers, "max_clients", maxClients)
	w.send("ready")
	return func() {
		close(ended)
		w.ctl.Close()
	}
}
