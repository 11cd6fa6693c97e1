package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/internal/daemon"
	"github.com/sockd/sockd/internal/diag"
	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/server"
	"github.com/sockd/sockd/internal/supervisor"
	"github.com/sockd/sockd/internal/version"
	"github.com/sockd/sockd/socks"
)

func init() {
	sockdServe = configureServe
	sockdVer = version.DaemonText
}

// serveFlags are the daemon's command line.
type serveFlags struct {
	config, route, logFormat, passwd, auth         string
	listen                                         []string
	lenient, strict, inetd, syslog                 bool
	ver                                            bool // 4.3's -ver (root.go)
	maxClients                                     int
	handshake, connect, bind, idle, ident, command time.Duration
	udpTimeout                                     time.Duration
	drain                                          time.Duration
	clientConfig, credentials                      string // rsockd mode (upstream.go)
	defaultServers                                 []string
	srelayConf                                     string // srelay.conf instead of socks.conf (upstream.go)
	rsockd                                         bool
	srelay                                         bool        // the srelay personality (srelay.go)
	access                                         accessFlags // hosts.allow/deny, host accounts (srelay.go)
	shadow                                         string      // --shadow candidate rules
	ops                                            opsFlags    // ops.go
	cpuprofile                                     string
	workers                                        int // workers.go
	eventLoops                                     string
}

func configureServe(root *cobra.Command) {
	f := &serveFlags{}
	fs := root.Flags()
	fs.StringVarP(&f.config, "config", "c", "", "sockd.conf or frozen sockd.fc (default: /etc/sockd.fc, then /etc/sockd.conf, then a loopback-only default)")
	fs.StringArrayVar(&f.listen, "listen", nil, "address to listen on, IPv4 or [IPv6]:port (repeatable; default "+server.DefaultListen+")")
	fs.StringVar(&f.route, "route", "", "sockd.route or frozen sockd.fr: the interface for each destination (default: /etc/sockd.fr, then /etc/sockd.route, else none)")
	fs.StringVar(&f.shadow, "shadow", "", "candidate sockd.conf or sockd.fc: decide every request under it too, log and count where it disagrees, enforce nothing")
	fs.BoolVarP(&f.lenient, "ident", "i", false, "ask identd for permit lines without ?=; refuse only when it names another user (4.3 -i)")
	fs.BoolVarP(&f.strict, "ident-strict", "I", false, "as -i, and also refuse when identd cannot be reached (4.3 -I)")
	fs.StringVar(&f.ops.PidFile, "pidfile", "", "write the process id to this file (4.3 used /etc/sockd.pid; default none)")
	fs.BoolVar(&f.inetd, "inetd", false, "serve the one connection on standard input (started by inetd)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format on standard error: text or json")
	fs.BoolVar(&f.syslog, "syslog", false, "log to syslog as 4.3 did (facility daemon; sessions at notice, failures at err; 4.3's lines without fields) instead of standard error")
	fs.StringVar(&f.passwd, "passwd", "", "password file for SOCKS5 username/password (see 'sockd passwd')")
	fs.StringVar(&f.auth, "auth", "", "SOCKS5 methods offered, in order: none, userpass (default: none, or userpass with --passwd)")
	fs.IntVar(&f.maxClients, "max-clients", 0, "sessions at once; excess clients are closed at once (0 = no limit)")
	fs.DurationVar(&f.handshake, "handshake-timeout", server.DefaultHandshakeTimeout, "a client must send its request within this")
	fs.DurationVar(&f.connect, "connect-timeout", server.DefaultConnectTimeout, "resolving and connecting to a destination")
	fs.DurationVar(&f.bind, "bind-timeout", server.DefaultConnectTimeout, "waiting for the peer of a BIND")
	fs.DurationVar(&f.idle, "idle-timeout", server.DefaultIdleTimeout, "end a relay with no traffic either way (0 = never)")
	fs.DurationVar(&f.udpTimeout, "udp-timeout", server.DefaultUDPTimeout, "end a UDP association with no datagram either way (at most --idle-timeout)")
	fs.DurationVar(&f.ident, "ident-timeout", server.DefaultIdentTimeout, "one identd query")
	fs.DurationVar(&f.command, "command-timeout", server.DefaultCommandTimeout, "kill a rule's shell command after this")
	fs.StringVar(&f.eventLoops, "event-loops", "auto", "engine for plain listeners: auto (event loops where available) or off (a goroutine per session)")
	fs.DurationVar(&f.drain, "drain-timeout", server.DefaultDrainTimeout, "on SIGTERM, wait this long for sessions to finish")
	fs.BoolVar(&f.ver, "ver", false, "print the build description and exit 1 (4.3's -ver)")
	fs.MarkHidden("ver")
	addUpstreamFlags(root, f)
	addAccessFlags(root, f)
	addOpsFlags(fs, &f.ops)
	f.ops.SyslogTag = root.Name() // 4.3's rsockd logged as rsockd
	addProfileFlag(fs, &f.cpuprofile)
	addWorkersFlag(fs, f)
	root.RunE = func(cmd *cobra.Command, args []string) error { return runServe(cmd, f) }
}

// parseAuth reads --auth: a comma-separated list of none and userpass.
func parseAuth(s string) ([]socks.Method, error) {
	var out []socks.Method
	for _, w := range strings.Split(s, ",") {
		var m socks.Method
		switch strings.TrimSpace(strings.ToLower(w)) {
		case "none":
			m = socks.MethodNoAuth
		case "userpass", "username", "password":
			m = socks.MethodUserPass
		default:
			return nil, fmt.Errorf("--auth: unknown method %q (want none or userpass)", w)
		}
		for _, have := range out {
			if have == m {
				return nil, fmt.Errorf("--auth: %q given twice", w)
			}
		}
		out = append(out, m)
	}
	return out, nil
}

func runServe(cmd *cobra.Command, f *serveFlags) error {
	if f.ver {
		fmt.Fprint(cmd.OutOrStdout(), sockdVer(f.rsockd || f.clientConfig != "", f.inetd))
		return exitError(ExitInvalid) // 4.3 exits 1 after printing the build description
	}
	mode, err := identMode(f.lenient, f.strict)
	if err != nil {
		return err
	}
	if f.inetd && len(f.listen) > 0 {
		return usagef("--inetd serves standard input: --listen makes no sense with it")
	}
	format, err := logline.ParseFormat(f.logFormat)
	if err != nil {
		return usageError{err}
	}
	if err := f.ops.validate(f); err != nil {
		return err
	}
	if err := f.validateWorkers(); err != nil {
		return err
	}
	for name, d := range map[string]time.Duration{"handshake-timeout": f.handshake, "connect-timeout": f.connect,
		"bind-timeout": f.bind, "ident-timeout": f.ident, "command-timeout": f.command, "drain-timeout": f.drain} {
		if d <= 0 {
			return usagef("--%s must be positive", name)
		}
	}
	if f.udpTimeout <= 0 {
		return usagef("--udp-timeout must be positive")
	}
	if f.idle < 0 || f.maxClients < 0 {
		return usagef("--idle-timeout and --max-clients cannot be negative")
	}
	if f.srelayConf != "" && f.clientConfig != "" {
		return usagef("--client-config and --srelay-conf exclude each other")
	}
	if f.eventLoops != "auto" && f.eventLoops != "off" {
		return usagef("--event-loops %q: want auto or off", f.eventLoops)
	}
	var methods []socks.Method
	if f.auth != "" {
		if methods, err = parseAuth(f.auth); err != nil {
			return usageError{err}
		}
	}
	// A worker started by a supervisor (internal/supervisor) finds its
	// listeners, its log file and its control socket among the inherited
	// descriptors.
	wk, err := supervisor.FromEnv()
	if err != nil {
		return err
	}
	var log *slog.Logger
	if wk != nil {
		log, err = f.ops.WorkerLogger(wk, cmd.ErrOrStderr(), format, f.syslog)
	} else {
		log, err = f.ops.Logger(cmd.ErrOrStderr(), format, f.syslog)
	}
	if err != nil {
		return err
	}
	defer f.ops.FlushLog()
	if f.workers > 1 && wk == nil && !f.ops.Checking {
		log = log.With("process", "supervisor", "pid", os.Getpid())
	}
	fileLimit := daemon.RaiseFileLimit(log)
	opts := server.Options{
		ConfigPath: f.config, RoutePath: f.route, PasswdPath: f.passwd, Methods: methods, IdentMode: mode,
		HandshakeTimeout: f.handshake, ConnectTimeout: f.connect, BindTimeout: f.bind, IdleTimeout: f.idle, UDPTimeout: f.udpTimeout,
		IdentTimeout: f.ident, CommandTimeout: f.command, MaxClients: f.maxClients, Logger: log,
		ClientConfigPath: f.clientConfig, ClientDefault: f.rsockd, CredentialsPath: f.credentials,
		ShadowPath:   f.shadow,
		NoEventLoops: f.eventLoops == "off",
	}
	if opts.DefaultServers, err = f.defaultServerList(); err != nil {
		return err
	}
	if f.srelayConf != "" || f.srelay {
		opts.ClientConfigPath, opts.ClientConfigSrelay, opts.ClientDefault = f.srelayConf, true, false
	}
	if err := f.applyAccess(&opts, cmd.Root().Name(), log); err != nil {
		return err
	}
	f.ops.ServerOptions(&opts)
	if wk != nil {
		// Its share of --max-clients; reload results go to the supervisor.
		opts.MaxClients = supervisor.ClientShare(f.maxClients, wk.Workers, wk.Index)
		opts.Notify = wk.ReloadNotify
	}
	s, err := server.New(opts)
	if err != nil {
		if l := diag.List(nil); errors.As(err, &l) {
			l.WriteText(cmd.ErrOrStderr())
			return exitError(ExitInvalid)
		}
		return err
	}
	if f.ops.Checking {
		return daemon.Report(cmd.OutOrStdout(), cmd.ErrOrStderr(), s, f.ops.print)
	}
	if f.cpuprofile != "" {
		path := f.cpuprofile
		if wk != nil {
			path += ".worker" + strconv.Itoa(wk.Index)
		}
		stop, err := daemon.StartCPUProfile(path)
		if err != nil {
			return err
		}
		defer stop()
	}
	if f.inetd {
		return s.ServeInetd()
	}
	if wk != nil {
		return f.ops.ServeWorker(s, wk, fileLimit, opts.MaxClients, f.drain, log)
	}
	lns, err := f.ops.Listeners(f.listen, log)
	if err != nil {
		return err
	}
	if f.workers > 1 {
		return f.ops.Supervise(daemon.Workers{N: f.workers, Drain: f.drain, Argv0: cmd.Root().Name(), Args: flagArgs(cmd.Flags()),
			Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr()}, lns, log)
	}
	return f.ops.Serve(s, lns, f.drain, log, func() (func(), error) { return f.ops.AfterBind(s, log) })
}
