package cli

// The srelay personality and the access controls every personality shares
// (tcp_wrappers' hosts.allow/hosts.deny, host accounts). srelay is the
// daemon started under the name srelay (a link, as rsockd is): its command
// line is srelay's, translated here into the daemon's own flags before
// cobra parses them, so one pipeline serves all three names.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/internal/hostsaccess"
	"github.com/sockd/sockd/internal/server"
	"github.com/sockd/sockd/internal/sysauth"
	"github.com/sockd/sockd/internal/version"
)

// srelay's default files (its SYSCONFDIR is /usr/local/etc).
const (
	SrelayConf   = "/usr/local/etc/srelay.conf"
	srelayPort   = "1080"
	srelayRules  = "permit 0.0.0.0 0.0.0.0\n"
	srelayName   = "<srelay: every client the access controls let in>"
	loopbackName = "<srelay: loopback clients only>"
	loopbackOnly = "permit 127.0.0.0/8 0.0.0.0 0.0.0.0\npermit ::1/128 0.0.0.0 0.0.0.0\ndeny 0.0.0.0 0.0.0.0\n"
)

// accessFlags are the flags of the access controls, for every personality.
type accessFlags struct {
	hostsAllow, hostsDeny string
	authSystem            bool
	sameInterface         bool
	bindAnyPort           bool // srelay -b
	logClientNames        bool // srelay -r
}

// addAccessFlags adds the access-control flags to the daemon.
func addAccessFlags(root *cobra.Command, f *serveFlags) {
	fs := root.Flags()
	fs.StringVar(&f.access.hostsAllow, "hosts-allow", hostsaccess.DefaultAllow, "tcp_wrappers allow file (hosts_access(5)), checked at accept; daemon name: "+root.Name())
	fs.StringVar(&f.access.hostsDeny, "hosts-deny", hostsaccess.DefaultDeny, "tcp_wrappers deny file, checked after --hosts-allow")
	fs.BoolVar(&f.access.authSystem, "auth-system", false, "check SOCKS5 user names and passwords against the host's accounts (PAM) instead of --passwd")
	fs.BoolVar(&f.access.sameInterface, "same-interface", false, "outgoing connections leave from the address the client connected to (srelay -g)")
	fs.BoolVar(&f.access.logClientNames, "log-client-names", false, "log each client's host name (a reverse lookup, confirmed forward) beside its address (srelay -r)")
	if root.Name() == "srelay" {
		fs.BoolVar(&f.access.bindAnyPort, "bind-any-port", false, "BIND may listen on the requested or the client's port below 600 too (srelay -b)")
	}
	f.srelay = root.Name() == "srelay"
	if f.srelay {
		root.Short = "SOCKS4/5 relay with srelay's command line, srelay.conf and srelay.passwd"
		root.Long = `srelay serves SOCKS4, SOCKS4a and SOCKS5 and reaches destinations directly or through the
next hops of srelay.conf, with srelay's command line (see 'srelay -h').`
	}
}

// applyAccess sets the server options of the access controls and of the
// srelay personality.
func (f *serveFlags) applyAccess(opts *server.Options, name string, log *slog.Logger) error {
	gate := &hostsaccess.Gate{Daemon: name, AllowPath: f.access.hostsAllow, DenyPath: f.access.hostsDeny,
		Warn: func(msg string) { log.Warn("hosts access: " + msg) }}
	opts.AcceptCheck = func(client, local netip.AddrPort) (bool, string) {
		v := gate.Check(client, local)
		return v.Allow, v.Reason
	}
	// Read the files now, so that their warnings come at start, not with
	// the first client.
	configured := gate.Configured()
	opts.SameInterface = f.access.sameInterface
	opts.SrelayBind, opts.BindAnyPort = f.srelay, f.access.bindAnyPort
	if f.access.logClientNames {
		check, names := opts.AcceptCheck, newNameLogger(log)
		opts.AcceptCheck = func(client, local netip.AddrPort) (bool, string) {
			ok, why := check(client, local)
			if ok {
				names.log(client)
			}
			return ok, why
		}
	}
	if f.access.authSystem {
		if !sysauth.Available() {
			return usagef("--auth-system: PAM is not available (a build without cgo, or no libpam.so.0 on this host)")
		}
		if f.passwd != "" {
			return usagef("--auth-system and --passwd exclude each other")
		}
		chk := sysauth.New(name)
		opts.SystemPasswords = func(ctx context.Context, user, password string) bool {
			return chk.Check(ctx, user, password) == nil
		}
	}
	if !f.srelay || opts.ConfigPath != "" {
		return nil
	}
	// srelay has no rule file: every client that tcp_wrappers and the
	// authentication let in may go anywhere. With no access control at all
	// that is an open proxy on every address, so serve loopback only.
	if configured || f.access.authSystem {
		opts.DefaultRules, opts.DefaultRulesName = []byte(srelayRules), srelayName
		return nil
	}
	opts.DefaultRules, opts.DefaultRulesName = []byte(loopbackOnly), loopbackName
	log.Warn(fmt.Sprintf("srelay: no access control configured (no srelay rule in %s or %s, no -a p): serving loopback clients only; "+
		"to serve others, name them in %s (srelay: 192.0.2.0/24) and add `srelay: ALL` to %s, or require passwords with -a p",
		f.access.hostsAllow, f.access.hostsDeny, f.access.hostsAllow, f.access.hostsDeny))
	return nil
}

// srelayUsage is `srelay -h`.
const srelayUsage = `usage: srelay [options]
options:
	-c file	config file (srelay.conf; default ` + SrelayConf + `, if it exists)
	-i i/f	listen interface IP[:PORT], [IPv6][:PORT] or :PORT (repeatable; default :1080)
	-m num	max sessions at once
	-o min	idle timeout minutes (0: none, the default)
	-p file	pid file
	-a np	auth methods n: no, p: username/password of the host's accounts, in this order
	-u file	srelay password file (next hops' user names and passwords)
	-f	run in the foreground (srelay always does)
	-r	resolve client names in the log
	-s	log to syslog
	-t	disable threading (accepted: there are no threads to disable)
	-b	avoid BIND port restriction
	-g	use the same interface for outbound as inbound
	-v	show version and exit
	-h, -?	show this help and exit
Access: /etc/hosts.allow and /etc/hosts.deny (daemon name srelay); with neither naming srelay
and no -a p, only loopback clients are served.
Long options of sockd also work (see 'srelay --help').
`

// srelayArgs translates srelay's command line (getopt "a:bc:fghi:m:o:p:rstu:v?")
// into the daemon's flags. done is true when the command already ran
// (-h, -v) with exit status code.
func srelayArgs(args []string, stdout io.Writer) (out []string, done bool, code int, err error) {
	var methods []string
	config, listens := "", 0
	withArg := "acimopu"
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "--") || a == "-" || !strings.HasPrefix(a, "-") {
			if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
				return nil, false, 0, fmt.Errorf("srelay takes no arguments: %q", a)
			}
			out = append(out, a) // a sockd long flag
			// The long forms of -i and -c (as a --workers supervisor passes
			// them on) replace srelay's defaults too.
			switch {
			case a == "--listen" || strings.HasPrefix(a, "--listen="):
				listens++
			case a == "--srelay-conf" || strings.HasPrefix(a, "--srelay-conf="):
				config = "given"
			}
			if !strings.Contains(a, "=") && i+1 < len(args) && longTakesValue(a) {
				i++
				out = append(out, args[i])
			}
			continue
		}
		for j := 1; j < len(a); j++ {
			o := a[j]
			var val string
			if strings.IndexByte(withArg, o) >= 0 {
				switch {
				case j+1 < len(a):
					val = a[j+1:]
				case i+1 < len(args):
					i++
					val = args[i]
				default:
					return nil, false, 0, fmt.Errorf("option -%c needs a value", o)
				}
				j = len(a)
			}
			switch o {
			case 'c':
				config = val
			case 'i':
				l, err := srelayListen(val)
				if err != nil {
					return nil, false, 0, err
				}
				out = append(out, "--listen", l)
				listens++
			case 'm':
				if n, err := strconv.Atoi(val); err != nil || n < 0 {
					return nil, false, 0, fmt.Errorf("-m %s: want a number of sessions", val)
				}
				out = append(out, "--max-clients", val)
			case 'o':
				n, err := strconv.Atoi(val)
				if err != nil || n < 0 {
					return nil, false, 0, fmt.Errorf("-o %s: want idle minutes (0 for none)", val)
				}
				out = append(out, "--idle-timeout", strconv.Itoa(n)+"m")
			case 'p':
				out = append(out, "--pidfile", val)
			case 'u':
				out = append(out, "--credentials", val)
			case 'a':
				for _, m := range val {
					switch m {
					case 'n':
						methods = appendOnce(methods, "none")
					case 'p':
						methods = appendOnce(methods, "userpass")
					default:
						return nil, false, 0, fmt.Errorf("-a %s: methods are n (none) and p (username/password)", val)
					}
				}
			case 's':
				out = append(out, "--syslog")
			case 'g':
				out = append(out, "--same-interface")
			case 'b':
				out = append(out, "--bind-any-port")
			case 'r':
				out = append(out, "--log-client-names")
			case 'f', 't':
				// foreground: always; threads: none to disable
			case 'v':
				fmt.Fprintf(stdout, "srelay (sockd toolchain) %s\n", version.Version)
				return nil, true, ExitOK, nil
			case 'h', '?':
				fmt.Fprint(stdout, srelayUsage)
				return nil, true, ExitOK, nil
			default:
				return nil, false, 0, fmt.Errorf("unknown option -%c (srelay -h lists them)", o)
			}
		}
	}
	if config == "" {
		if _, err := os.Stat(SrelayConf); err == nil {
			config = SrelayConf
		}
	}
	if config != "" && config != "given" {
		out = append(out, "--srelay-conf", config)
	}
	if listens == 0 {
		out = append(out, "--listen", ":"+srelayPort)
	}
	if len(methods) > 0 {
		out = append(out, "--auth", strings.Join(methods, ","))
		for _, m := range methods {
			if m == "userpass" {
				out = append(out, "--auth-system")
			}
		}
	}
	if !hasFlag(out, "--idle-timeout") {
		out = append(out, "--idle-timeout", "0") // srelay: no idle timeout unless -o
	}
	return out, false, 0, nil
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

// longTakesValue reports whether a sockd long flag takes a separate value:
// every flag of the daemon that is not a boolean.
func longTakesValue(a string) bool {
	name := strings.TrimPrefix(a, "--")
	fl := newSockdCmd("srelay").Flags().Lookup(name)
	return fl != nil && fl.Value.Type() != "bool"
}

// srelayListen turns an -i spec into a listen address: a bare address or
// name listens on port 1080, `:port` on every address, `[v6]:port` and
// `host:port` as written.
func srelayListen(spec string) (string, error) {
	switch {
	case spec == "":
		return "", fmt.Errorf("-i needs an address, :port or both")
	case strings.HasPrefix(spec, "["):
		end := strings.IndexByte(spec, ']')
		if end < 0 {
			return "", fmt.Errorf("-i %s: missing ]", spec)
		}
		host, rest := spec[1:end], spec[end+1:]
		if _, err := netip.ParseAddr(host); err != nil {
			return "", fmt.Errorf("-i %s: %q is not an IPv6 address", spec, host)
		}
		if rest == "" {
			return net.JoinHostPort(host, srelayPort), nil
		}
		if rest[0] != ':' || !validPort(rest[1:]) {
			return "", fmt.Errorf("-i %s: want [IPv6]:port", spec)
		}
		return net.JoinHostPort(host, rest[1:]), nil
	case strings.Count(spec, ":") > 1:
		if _, err := netip.ParseAddr(spec); err != nil {
			return "", fmt.Errorf("-i %s: write an IPv6 address in brackets, as [::1]:1080", spec)
		}
		return net.JoinHostPort(spec, srelayPort), nil
	}
	host, port, hasPort := strings.Cut(spec, ":")
	if !hasPort {
		port = srelayPort
	}
	if !validPort(port) {
		return "", fmt.Errorf("-i %s: %q is not a port", spec, port)
	}
	return net.JoinHostPort(host, port), nil
}

// validPort accepts 0 too: the system picks a free port (and the log says
// which), as tests and supervisors need.
func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n < 65536 && !strings.ContainsAny(s, "+-")
}

// nameLogger logs client host names (srelay -r) without delaying anyone:
// lookups run beside the sessions, at most 8 at once; a client arriving
// while all 8 are busy is logged without its name.
type nameLogger struct {
	logger *slog.Logger
	slots  chan struct{}
}

func newNameLogger(log *slog.Logger) *nameLogger {
	return &nameLogger{logger: log, slots: make(chan struct{}, 8)}
}

func (n *nameLogger) log(client netip.AddrPort) {
	select {
	case n.slots <- struct{}{}:
	default:
		n.logger.Info("connect from "+client.Addr().String()+" (name not looked up: too many lookups running)", "client", client.String())
		return
	}
	go func() {
		defer func() { <-n.slots }()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		name := "unknown"
		if names, err := net.DefaultResolver.LookupAddr(ctx, client.Addr().String()); err == nil && len(names) > 0 {
			// Confirmed forward, as libwrap's PARANOID check: a reverse
			// name alone is the client's own claim.
			cand := strings.TrimSuffix(names[0], ".")
			if addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", cand); err == nil {
				for _, a := range addrs {
					if a.Unmap() == client.Addr().Unmap() {
						name = cand
						break
					}
				}
			}
		}
		n.logger.Info("connect from "+name+" ["+client.Addr().String()+"]", "client", client.String(), "name", name)
	}()
}
