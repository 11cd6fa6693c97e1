package cli

import (
	"net"
	"net/netip"

	"github.com/spf13/pflag"

	"github.com/sockd/sockd/internal/daemon"
	"github.com/sockd/sockd/internal/logline"
)

// opsFlags are the daemon's operations flags: config check, metrics,
// privileges, PROXY protocol and log files. What acts on them is
// internal/daemon's Ops, which they fill.
type opsFlags struct {
	daemon.Ops
	check, print bool
	proxyTrusted []string
}

func addOpsFlags(fs *pflag.FlagSet, o *opsFlags) {
	fs.BoolVarP(&o.check, "check", "t", false, "check every file the daemon would load (rules, routes, passwords) and exit: 0 valid, 1 not")
	fs.BoolVarP(&o.print, "print-config", "T", false, "check the files as -t does, then print the effective configuration as canonical text")
	fs.StringVar(&o.User, "user", "", "started as root: bind the listeners, then run as this user (and its group)")
	fs.StringVar(&o.MetricsListen, "metrics-listen", "", "serve Prometheus metrics on http://ADDR/metrics and a health check on /healthz (default off)")
	fs.BoolVar(&o.ProxyProtocol, "proxy-protocol", false, "every connection on the --listen listeners starts with a PROXY protocol header (v1 or v2) from a load balancer; the rules judge the client it names")
	fs.StringArrayVar(&o.proxyTrusted, "proxy-trusted", nil, "with --proxy-protocol: accept headers only from this address or CIDR (repeatable; default any)")
	fs.StringVar(&o.SyslogSocket, "syslog-socket", logline.DevLog, "with --syslog: the local syslog socket")
	fs.StringVar(&o.LogFile, "log-file", "", "append the log to this file (reopened on SIGHUP, for logrotate) instead of standard error")
}

// addProfileFlag registers the daemon's hidden --cpuprofile flag: the
// benchmark (go run ./bench -profile DIR) uses it to show where the time
// of a connection goes. It is hidden because operators do not need it.
func addProfileFlag(fs *pflag.FlagSet, path *string) {
	fs.StringVar(path, "cpuprofile", "", "write a CPU profile of the daemon's whole run to this file")
	fs.MarkHidden("cpuprofile")
}

// validate checks the flags before anything is opened.
func (o *opsFlags) validate(f *serveFlags) error {
	if o.check && o.print {
		return usagef("-t and -T exclude each other")
	}
	o.Checking = o.check || o.print
	if len(o.proxyTrusted) > 0 && !o.ProxyProtocol {
		return usagef("--proxy-trusted needs --proxy-protocol")
	}
	if o.ProxyProtocol && f.inetd {
		return usagef("--proxy-protocol is for listeners, not --inetd")
	}
	if o.LogFile != "" && f.syslog {
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
		o.ProxyTrusted = append(o.ProxyTrusted, p.Masked())
	}
	if o.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(o.MetricsListen); err != nil {
			return usagef("--metrics-listen: %v", err)
		}
	}
	return nil
}
