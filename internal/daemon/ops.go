package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/opsweb"
	"github.com/sockd/sockd/internal/privdrop"
	"github.com/sockd/sockd/internal/server"
	"github.com/sockd/sockd/internal/signals"
	"github.com/sockd/sockd/internal/systemd"
	"github.com/sockd/sockd/internal/version"
)

// Ops is the process around one server: its log, listeners, privileges,
// metrics endpoint and the service manager's notifications. The exported
// fields are the daemon's operations flags; set them before the first
// call.
type Ops struct {
	Checking      bool   // -t or -T: the files are loaded, nothing is served or logged
	User          string // --user: run as this user once bound
	PidFile       string
	MetricsListen string
	ProxyProtocol bool
	ProxyTrusted  []netip.Prefix // --proxy-trusted, parsed
	LogFile       string
	SyslogSocket  string // --syslog-socket
	SyslogTag     string // the program's name: sockd or rsockd
	registry      *prometheus.Registry
	logFileHandle *logline.File
	logBatch      *logline.Batch // the log's lines on their way out: FlushLog before exit and reopening
	stopping      sync.Once
}

// Logger builds the daemon's logger: a log file, syslog, or standard
// error, which under systemd gets journald priorities instead of times.
func (o *Ops) Logger(stderr io.Writer, format logline.Format, useSyslog bool) (*slog.Logger, error) {
	switch {
	case o.Checking:
		// -t and -T report on stdout/stderr themselves.
		return slog.New(slog.DiscardHandler), nil
	case useSyslog:
		tag := o.SyslogTag
		if tag == "" {
			tag = "sockd"
		}
		l, err := logline.NewSyslogAt(o.SyslogSocket, tag, slog.LevelInfo)
		if err != nil {
			return nil, fmt.Errorf("cannot open syslog: %w", err)
		}
		return l, nil
	case o.LogFile != "":
		lf, err := logline.OpenFile(o.LogFile)
		if err != nil {
			return nil, err
		}
		o.logFileHandle = lf
		return logline.New(o.batch(lf), format, slog.LevelInfo), nil
	case format == logline.FormatText && stderr == os.Stderr && logline.StderrIsJournal():
		return logline.NewJournal(o.batch(stderr), slog.LevelInfo), nil
	}
	return logline.New(o.batch(stderr), format, slog.LevelInfo), nil
}

// batch makes w the log's Batch, which FlushLog empties.
func (o *Ops) batch(w io.Writer) *logline.Batch {
	o.logBatch = logline.NewBatch(w)
	return o.logBatch
}

// FlushLog writes out the log lines still held: before the daemon exits,
// and before its log file is reopened, so that they land in the file
// they were logged to.
func (o *Ops) FlushLog() {
	if o.logBatch != nil {
		o.logBatch.Flush()
	}
}

// ReopenLog starts a new log file after logrotate moved the old one.
func (o *Ops) ReopenLog() error {
	o.FlushLog()
	return o.logFileHandle.Reopen()
}

// RaiseFileLimit raises the open file limit as far as the system allows
// and returns it; 0 when it is not known, which the log says.
func RaiseFileLimit(log *slog.Logger) uint64 {
	limit, err := raiseFileLimit()
	if err != nil {
		log.Warn("cannot raise the open file limit", "err", err)
		return 0
	}
	log.Debug("open file limit", "limit", limit)
	return limit
}

// ServerOptions adds the metrics registry and the service manager's
// notifications to the daemon's options.
func (o *Ops) ServerOptions(opts *server.Options) {
	if o.MetricsListen != "" && !o.Checking {
		o.registry = prometheus.NewRegistry()
		o.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "sockd", Name: "build_info",
			Help: "1, with the version of the running daemon."}, []string{"version"})
		build.WithLabelValues(version.Version).Set(1)
		o.registry.MustRegister(build)
		opts.Metrics = o.registry
	}
	opts.Notify = o.Notify
}

// Report prints what -t (print false) or -T (print true) asked for; the
// files have loaded.
func Report(stdout, stderr io.Writer, s *server.Server, print bool) error {
	if print {
		if err := s.WriteEffective(stdout); err != nil {
			return err
		}
		return s.WriteClientEffective(stdout) // rsockd mode
	}
	s.CheckReport(stderr)
	s.ClientReport(stderr) // rsockd mode: the client file and its default server
	return nil
}

// Listeners returns the sockets the service manager passed (socket
// activation, LISTEN_FDS) followed by those of --listen; listen is called
// for --listen only when there are addresses to bind, and without any
// the default address is used only when nothing was passed.
func (o *Ops) Listeners(addrs []string, log *slog.Logger) ([]net.Listener, error) {
	passed, err := systemd.Listeners()
	if err != nil {
		return nil, err
	}
	var lns []net.Listener
	for _, l := range passed {
		lns = append(lns, l.Listener)
		log.Info("listening on a socket passed by the service manager", "address", l.Addr().String(), "name", l.Name)
	}
	if len(addrs) == 0 && len(lns) == 0 {
		addrs = []string{server.DefaultListen}
		log.Info("no --listen given: listening on " + server.DefaultListen)
	}
	for _, a := range addrs {
		ln, err := server.Listen(a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("cannot listen on %s: %w", a, err)
		}
		lns = append(lns, ln)
		log.Info("listening", "address", ln.Addr().String(), "proxy_protocol", o.ProxyProtocol)
	}
	if o.ProxyProtocol && len(o.ProxyTrusted) == 0 {
		log.Warn("--proxy-protocol without --proxy-trusted: any host that reaches the listeners can claim any client address")
	}
	return lns, nil
}

// ListenerOptions apply to every listener.
func (o *Ops) ListenerOptions() server.ListenerOptions {
	return server.ListenerOptions{ProxyProtocol: o.ProxyProtocol, ProxyTrusted: o.ProxyTrusted}
}

// AfterBind runs once the listeners are bound and the rules loaded: it
// writes the pid file, binds and serves the metrics endpoint, drops
// privileges, and tells the service manager the daemon is ready (the
// signal loop, Serve's, is already up). stop undoes what it started.
func (o *Ops) AfterBind(s *server.Server, log *slog.Logger) (stop func(), err error) {
	removePid, err := o.writePidFile()
	if err != nil {
		return removePid, err
	}
	stopMetrics := func() {}
	if o.MetricsListen != "" {
		ln, err := net.Listen("tcp", o.MetricsListen)
		if err != nil {
			return removePid, fmt.Errorf("cannot listen on --metrics-listen %s: %w", o.MetricsListen, err)
		}
		log.Info("metrics on http://"+ln.Addr().String()+"/metrics, health check on /healthz", "address", ln.Addr().String())
		if beyondLoopback(ln.Addr()) {
			log.Warn("the metrics endpoint listens beyond loopback on "+ln.Addr().String()+
				": anyone who can reach it reads the daemon's counters; bind it to 127.0.0.1 or firewall it",
				"address", ln.Addr().String())
		}
		go func() {
			if err := opsweb.Serve(ln, s, o.registry); err != nil {
				log.Error("metrics endpoint failed", "err", err)
			}
		}()
		stopMetrics = func() { ln.Close() }
	}
	if err := o.dropPrivileges(log); err != nil {
		stopMetrics()
		return removePid, err
	}
	stop = func() {
		stopMetrics()
		// No signal may have said it: a listener failed for good.
		o.NotifyStopping()
		removePid()
	}
	o.Notify("READY=1\nSTATUS=serving\nMAINPID=" + strconv.Itoa(os.Getpid()))
	return stop, nil
}

// writePidFile writes --pidfile, if given; remove deletes it.
func (o *Ops) writePidFile() (remove func(), err error) {
	if o.PidFile == "" {
		return func() {}, nil
	}
	remove, err = createPidFile(o.PidFile)
	if err != nil {
		return func() {}, fmt.Errorf("cannot write the pid file: %w", err)
	}
	return remove, nil
}

// dropPrivileges runs the process as --user from now on, if given.
func (o *Ops) dropPrivileges(log *slog.Logger) error {
	if o.User == "" {
		return nil
	}
	if err := privdrop.To(o.User); err != nil {
		return err
	}
	log.Info("running as user "+o.User, "uid", os.Getuid(), "gid", os.Getgid())
	return nil
}

// SignalHooks are the daemon's part of its signal loop (package
// signals), the one loop of the process: the log file's reopen, which the loop runs before
// each reload, and STOPPING=1 when a terminating signal starts the drain.
func (o *Ops) SignalHooks(log *slog.Logger) signals.Hooks {
	h := signals.Hooks{Stopping: o.NotifyStopping}
	if o.logFileHandle != nil {
		h.ReopenLog = func() {
			if err := o.ReopenLog(); err != nil {
				log.Error("SIGHUP: keeping the old log file", "err", err)
			} else {
				log.Info("SIGHUP: log file reopened", "file", o.logFileHandle.Path())
			}
		}
	}
	return h
}

// NotifyStopping tells the service manager, once, that the daemon is
// draining.
func (o *Ops) NotifyStopping() {
	o.stopping.Do(func() { o.Notify("STOPPING=1\nSTATUS=draining sessions") })
}

// Notify tells the service manager state, after writing out the log, so
// that the lines that led to it (a reload's, the start's) come first.
func (o *Ops) Notify(state string) {
	o.FlushLog()
	daemon.SdNotify(false, state) // false: workers get an environment without it (workerEnviron)
}

// beyondLoopback reports whether a listener can be reached from other
// hosts. The metrics endpoint has no authentication and shows the rules'
// hit counts and the clients' traffic, so the daemon warns when it can.
func beyondLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return !ok || !ta.IP.IsLoopback()
}
