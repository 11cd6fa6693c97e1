package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"sync"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/pflag"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/server"
	"github.com/sockd/sockd/internal/systemd"
	"github.com/sockd/sockd/internal/version"
)

// opsFlags are the daemon's operations flags: config check, metrics,
// privileges, PROXY protocol and log files. They live here, apart from
// serve.go, with the code that acts on them.
type opsFlags struct {
	check, print  bool
	user          string
	metricsListen string
	proxyProtocol bool
	proxyTrusted  []string
	logFile       string
	syslogSocket  string // --syslog-socket
	syslogTag     string // the program's name: sockd or rsockd
	trusted       []netip.Prefix
	registry      *prometheus.Registry
	logFileHandle *logline.File
	logBatch      *logline.Batch // the log's lines on their way out: flushLog before exit and reopening
	metricsLn     net.Listener
	stopping      sync.Once
}

func addOpsFlags(fs *pflag.FlagSet, o *opsFlags) {
	fs.BoolVarP(&o.check, "check", "t", false, "check every file the daemon would load (rules, routes, passwords) and exit: 0 valid, 1 not")
	fs.BoolVarP(&o.print, "print-config", "T", false, "check the files as -t does, then print the effective configuration as canonical text")
	fs.StringVar(&o.user, "user", "", "started as root: bind the listeners, then run as this user (and its group)")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics on http://ADDR/metrics and a health check on /healthz (default off)")
	fs.BoolVar(&o.proxyProtocol, "proxy-protocol", false, "every connection on the --listen listeners starts with a PROXY protocol header (v1 or v2) from a load balancer; the rules judge the client it names")
	fs.StringArrayVar(&o.proxyTrusted, "proxy-trusted", nil, "with --proxy-protocol: accept headers only from this address or CIDR (repeatable; default any)")
	fs.StringVar(&o.syslogSocket, "syslog-socket", logline.DevLog, "with --syslog: the local syslog socket")
	fs.StringVar(&o.logFile, "log-file", "", "append the log to this file (reopened on SIGHUP, for logrotate) instead of standard error")
}

// validate checks the flags before anything is opened.
func (o *opsFlags) validate(f *serveFlags) error {
	if o.check && o.print {
		return usagef("-t and -T exclude each other")
	}
	if len(o.proxyTrusted) > 0 && !o.proxyProtocol {
		return usagef("--proxy-trusted needs --proxy-protocol")
	}
	if o.proxyProtocol && f.inetd {
		return usagef("--proxy-protocol is for listeners, not --inetd")
	}
	if o.logFile != "" && f.syslog {
		return usagef("--log-file and --syslog exclude each other")
	}
	for _, s := range o.proxyTrusted {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return usagef("--proxy-trusted %q: want an address or CIDR", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		o.trusted = append(o.trusted, p.Masked())
	}
	if o.metricsListen != "" {
		if _, _, err := net.SplitHostPort(o.metricsListen); err != nil {
			return usagef("--metrics-listen: %v", err)
		}
	}
	return nil
}

// checking is -t or -T: the files are loaded, nothing is served.
func (o *opsFlags) checking() bool { return o.check || o.print }

// logger builds the daemon's logger: a log file, syslog, or standard
// error, which under systemd gets journald priorities instead of times.
func (o *opsFlags) logger(stderr io.Writer, format logline.Format, useSyslog bool) (*slog.Logger, error) {
	switch {
	case o.checking():
		// -t and -T report on stdout/stderr themselves.
		return slog.New(slog.DiscardHandler), nil
	case useSyslog:
		tag := o.syslogTag
		if tag == "" {
			tag = "sockd"
		}
		l, err := logline.NewSyslogAt(o.syslogSocket, tag, slog.LevelInfo)
		if err != nil {
			return nil, fmt.Errorf("cannot open syslog: %w", err)
		}
		return l, nil
	case o.logFile != "":
		lf, err := logline.OpenFile(o.logFile)
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

// batch makes w the log's Batch, which flushLog empties.
func (o *opsFlags) batch(w io.Writer) *logline.Batch {
	o.logBatch = logline.NewBatch(w)
	return o.logBatch
}

// flushLog writes out the log lines still held: before the daemon exits,
// and before its log file is reopened, so that they land in the file
// they were logged to.
func (o *opsFlags) flushLog() {
	if o.logBatch != nil {
		o.logBatch.Flush()
	}
}

// reopenLog starts a new log file after logrotate moved the old one.
func (o *opsFlags) reopenLog() error {
	o.flushLog()
	return o.logFileHandle.Reopen()
}

// serverOptions adds the metrics registry and the service manager's
// notifications to the daemon's options.
func (o *opsFlags) serverOptions(opts *server.Options) {
	if o.metricsListen != "" && !o.checking() {
		o.registry = prometheus.NewRegistry()
		o.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "sockd", Name: "build_info",
			Help: "1, with the version of the running daemon."}, []string{"version"})
		build.WithLabelValues(version.Version).Set(1)
		o.registry.MustRegister(build)
		opts.Metrics = o.registry
	}
	opts.Notify = o.notify
}

// report prints what -t or -T asked for; the files have loaded.
func (o *opsFlags) report(stdout, stderr io.Writer, s *server.Server) error {
	if o.print {
		if err := s.WriteEffective(stdout); err != nil {
			return err
		}
		return s.WriteClientEffective(stdout) // rsockd mode
	}
	s.CheckReport(stderr)
	s.ClientReport(stderr) // rsockd mode: the client file and its default server
	return nil
}

// listeners returns the sockets the service manager passed (socket
// activation, LISTEN_FDS) followed by those of --listen; listen is called
// for --listen only when there are addresses to bind, and without any
// the default address is used only when nothing was passed.
func (o *opsFlags) listeners(addrs []string, log *slog.Logger) ([]net.Listener, error) {
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
		log.Info("listening", "address", ln.Addr().String(), "proxy_protocol", o.proxyProtocol)
	}
	if o.proxyProtocol && len(o.trusted) == 0 {
		log.Warn("--proxy-protocol without --proxy-trusted: any host that reaches the listeners can claim any client address")
	}
	return lns, nil
}

// listenerOptions apply to every listener.
func (o *opsFlags) listenerOptions() server.ListenerOptions {
	return server.ListenerOptions{ProxyProtocol: o.proxyProtocol, ProxyTrusted: o.trusted}
}

// afterBind runs once the listeners are bound and the rules loaded: it
// binds and serves the metrics endpoint, drops privileges, and tells the
// service manager the daemon is ready (the signal loop, serveListeners',
// is already up). stop undoes what it started.
func (o *opsFlags) afterBind(s *server.Server, log *slog.Logger) (stop func(), err error) {
	stop = func() {}
	if o.metricsListen != "" {
		ln, err := net.Listen("tcp", o.metricsListen)
		if err != nil {
			return stop, fmt.Errorf("cannot listen on --metrics-listen %s: %w", o.metricsListen, err)
		}
		o.metricsLn = ln
		log.Info("metrics on http://"+ln.Addr().String()+"/metrics, health check on /healthz", "address", ln.Addr().String())
		if beyondLoopback(ln.Addr()) {
			log.Warn("the metrics endpoint listens beyond loopback on "+ln.Addr().String()+
				": anyone who can reach it reads the daemon's counters; bind it to 127.0.0.1 or firewall it",
				"address", ln.Addr().String())
		}
		go func() {
			if err := s.ServeOps(ln, o.registry); err != nil {
				log.Error("metrics endpoint failed", "err", err)
			}
		}()
		stop = func() { ln.Close() }
	}
	if o.user != "" {
		if err := dropPrivileges(o.user); err != nil {
			stop()
			return func() {}, err
		}
		log.Info("running as user "+o.user, "uid", os.Getuid(), "gid", os.Getgid())
	}
	prev := stop
	stop = func() {
		prev()
		// No signal may have said it: a listener failed for good.
		o.notifyStopping()
	}
	o.notify("READY=1\nSTATUS=serving\nMAINPID=" + strconv.Itoa(os.Getpid()))
	return stop, nil
}

// signalHooks are the daemon's part of the server's signal loop, the one
// loop of the process: the log file's reopen, which the loop runs before
// each reload, and STOPPING=1 when a terminating signal starts the drain.
func (o *opsFlags) signalHooks(log *slog.Logger) server.SignalHooks {
	h := server.SignalHooks{Stopping: o.notifyStopping}
	if o.logFileHandle != nil {
		h.ReopenLog = func() {
			if err := o.reopenLog(); err != nil {
				log.Error("SIGHUP: keeping the old log file", "err", err)
			} else {
				log.Info("SIGHUP: log file reopened", "file", o.logFileHandle.Path())
			}
		}
	}
	return h
}

func (o *opsFlags) notifyStopping() {
	o.stopping.Do(func() { o.notify("STOPPING=1\nSTATUS=draining sessions") })
}

// notify tells the service manager state, after writing out the log, so
// that the lines that led to it (a reload's, the start's) come first.
func (o *opsFlags) notify(state string) {
	o.flushLog()
	daemon.SdNotify(false, state) // false: workers get an environment without it (workerEnviron)
}

// dropPrivileges switches to name's user and primary group for good. Go
// applies setuid/setgid to every thread of the process (Linux, Go 1.16+).
func dropPrivileges(name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("--user: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("--user %s: %w", name, err)
	}
	if os.Geteuid() != 0 {
		if os.Geteuid() == uid {
			return nil // already that user: nothing to drop
		}
		return fmt.Errorf("--user %s: only root can change user (running as uid %d)", name, os.Geteuid())
	}
	if uid == 0 {
		return fmt.Errorf("--user %s: that is root; name an unprivileged user", name)
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("--user: setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("--user: setgid: %w", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("--user: setuid: %w", err)
	}
	// Make sure the drop cannot be undone.
	if syscall.Setuid(0) == nil {
		return errors.New("--user: still able to become root after dropping privileges")
	}
	return nil
}

// beyondLoopback reports whether a listener can be reached from other
// hosts. The metrics endpoint has no authentication and shows the rules'
// hit counts and the clients' traffic, so the daemon warns when it can.
func beyondLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return !ok || !ta.IP.IsLoopback()
}
