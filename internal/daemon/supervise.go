package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/sockd/sockd/internal/acceptgate"
	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/server"
	"github.com/sockd/sockd/internal/supervisor"
)

// Workers says how the supervisor of --workers N starts its workers.
type Workers struct {
	N              int           // how many
	Drain          time.Duration // --drain-timeout
	Argv0          string        // the name the workers run under: sockd, rsockd or srelay
	Args           []string      // their command line: the flags the supervisor parsed
	Stdout, Stderr io.Writer     // handed to them
}

// Supervise runs the workers until a terminating signal. The caller has
// loaded the configuration (so a broken file fails before anything
// starts) and bound lns, which the supervisor keeps open for the workers
// without accepting on them; here it writes the pid file and gives up
// root (--user) before the workers start.
func (o *Ops) Supervise(w Workers, lns []net.Listener, log *slog.Logger) error {
	x := &supervisor.ExecStarter{Argv0: w.Argv0, LogPath: o.LogFile, Stdout: w.Stdout, Stderr: w.Stderr}
	defer x.Close()
	sv := supervisor.New(supervisor.Config{Workers: w.N, Drain: w.Drain, Log: log, Start: x,
		Notify: o.Notify, Stopping: o.NotifyStopping,
		ReopenLog: func() {
			if o.logFileHandle != nil {
				if err := o.ReopenLog(); err != nil {
					log.Error("SIGHUP: keeping the old log file", "err", err)
				}
			}
			x.ReopenLog()
		}})
	defer sv.Close()
	for _, ln := range lns {
		file, err := supervisor.ListenerFile(ln)
		ln.Close() // the copy in file keeps the socket open
		if err != nil {
			return err
		}
		x.Listeners = append(x.Listeners, file)
	}
	if err := x.OpenLog(); err != nil { // while still root, for the workers
		return err
	}
	remove, err := o.writePidFile()
	if err != nil {
		return err
	}
	defer remove()
	if err := o.dropPrivileges(log); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--workers: cannot find this program to start the workers: %w", err)
	}
	x.Exe, x.Args, x.Env = exe, w.Args, supervisor.Environ()
	return sv.Run()
}

// WorkerLogger is a worker's log: the inherited --log-file, or what the
// daemon would use (standard error, inherited, or syslog), each line
// marked with the worker's number and process id.
func (o *Ops) WorkerLogger(w *supervisor.Worker, stderr io.Writer, format logline.Format, useSyslog bool) (*slog.Logger, error) {
	w.BeforeSend = o.FlushLog
	var log *slog.Logger
	if o.LogFile != "" && w.LogFile() != nil {
		lf := logline.Adopt(w.LogFile(), o.LogFile)
		o.logFileHandle = lf
		log = logline.New(o.batch(lf), format, slog.LevelInfo)
	} else {
		var err error
		if log, err = o.Logger(stderr, format, useSyslog); err != nil {
			return nil, err
		}
	}
	return log.With("worker", w.Index, "pid", os.Getpid()), nil
}

// ServeWorker serves, in worker w, the listeners its supervisor passed,
// each gated by the process's open file limit (0: unknown, no gate), until
// a signal or the supervisor stops it; maxClients is the worker's share.
func (o *Ops) ServeWorker(s *server.Server, w *supervisor.Worker, fileLimit uint64, maxClients int, drain time.Duration, log *slog.Logger) error {
	var gate func(net.Listener) net.Listener
	if fileLimit > 0 {
		gate = func(ln net.Listener) net.Listener { return acceptgate.Listener(ln, fileLimit, s.Active, log) }
	}
	lns, err := w.Listeners(gate)
	if err != nil {
		return err
	}
	return o.Serve(s, lns, drain, log, func() (func(), error) { return w.Started(s, log, maxClients), nil })
}
