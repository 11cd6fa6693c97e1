package cli

// "sockd --workers N": the flag and its wiring. The supervisor, how it
// starts workers, and the worker's side are internal/supervisor.

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/server"
	"github.com/sockd/sockd/internal/supervisor"
)

func addWorkersFlag(fs *pflag.FlagSet, f *serveFlags) {
	fs.IntVar(&f.workers, "workers", 1, "serve with N worker processes sharing the listeners (each with its own open file limit); "+
		"the first process binds, supervises and restarts them, and splits --max-clients among them")
}

// validateWorkers checks --workers against the flags it cannot go with.
func (f *serveFlags) validateWorkers() error {
	switch {
	case f.workers < 1 || f.workers > supervisor.MaxWorkers:
		return usagef("--workers must be between 1 and %d", supervisor.MaxWorkers)
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

// runSupervisor runs the workers until a terminating signal. It has
// loaded the configuration (so a broken file fails before anything
// starts) and bound lns, which it keeps open for the workers without
// accepting on them; here it writes the pid file and gives up root
// (--user) before the workers start.
func runSupervisor(cmd *cobra.Command, f *serveFlags, lns []net.Listener, log *slog.Logger) error {
	x := &supervisor.ExecStarter{Argv0: cmd.Root().Name(), LogPath: f.ops.logFile, Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr()}
	defer x.Close()
	sv := supervisor.New(supervisor.Config{Workers: f.workers, Drain: f.drain, Log: log, Start: x,
		Notify: f.ops.notify, Stopping: f.ops.notifyStopping,
		ReopenLog: func() {
			if f.ops.logFileHandle != nil {
				if err := f.ops.reopenLog(); err != nil {
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
	x.Exe, x.Args, x.Env = exe, flagArgs(cmd.Flags()), supervisor.Environ()
	return sv.Run()
}

// workerLogger is a worker's log: the inherited --log-file, or what the
// daemon would use (standard error, inherited, or syslog), each line
// marked with the worker's number and process id.
func workerLogger(w *supervisor.Worker, stderr io.Writer, format logline.Format, f *serveFlags) (*slog.Logger, error) {
	w.BeforeSend = f.ops.flushLog
	var log *slog.Logger
	if f.ops.logFile != "" && w.LogFile() != nil {
		lf := logline.Adopt(w.LogFile(), f.ops.logFile)
		f.ops.logFileHandle = lf
		log = logline.New(f.ops.batch(lf), format, slog.LevelInfo)
	} else {
		var err error
		if log, err = f.ops.logger(stderr, format, f.syslog); err != nil {
			return nil, err
		}
	}
	return log.With("worker", w.Index, "pid", os.Getpid()), nil
}
