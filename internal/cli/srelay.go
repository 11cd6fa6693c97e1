package cli

// The flags of the access controls every personality shares
// (tcp_wrappers' hosts.allow/hosts.deny, host accounts) and of the srelay
// personality. srelay is the daemon started under the name srelay (a link,
// as rsockd is): its command line is srelay's, translated by
// internal/srelay into the daemon's own flags before cobra parses them, so
// one pipeline serves all three names.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/internal/clientname"
	"github.com/sockd/sockd/internal/hostsaccess"
	"github.com/sockd/sockd/internal/server"
	"github.com/sockd/sockd/internal/srelay"
	"github.com/sockd/sockd/internal/sysauth"
	"github.com/sockd/sockd/internal/version"
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
		check, names := opts.AcceptCheck, clientname.NewLogger(log)
		opts.AcceptCheck = func(client, local netip.AddrPort) (bool, string) {
			ok, why := check(client, local)
			if ok {
				names.Log(client)
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
	controlled := configured || f.access.authSystem
	opts.DefaultRules, opts.DefaultRulesName = srelay.Rules(controlled)
	if !controlled {
		log.Warn(srelay.LoopbackWarning(f.access.hostsAllow, f.access.hostsDeny))
	}
	return nil
}

// longTakesValue reports whether a sockd long flag takes a separate value:
// every flag of the daemon that is not a boolean.
func longTakesValue(a string) bool {
	name := strings.TrimPrefix(a, "--")
	fl := newSockdCmd("srelay").Flags().Lookup(name)
	return fl != nil && fl.Value.Type() != "bool"
}

// srelayCommandLine translates srelay's command line into the daemon's
// flags. done is true when the command already ran (-h, -v, or a mistake)
// with exit status code.
func srelayCommandLine(args []string, stdout, stderr io.Writer) (out []string, done bool, code int) {
	sc, err := srelay.Translate(args, longTakesValue)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "srelay: %v\n", err)
		return nil, true, ExitUsage
	case sc.Help:
		fmt.Fprint(stdout, srelay.Usage)
		return nil, true, ExitOK
	case sc.Version:
		fmt.Fprintf(stdout, "srelay (sockd toolchain) %s\n", version.Version)
		return nil, true, ExitOK
	}
	return sc.Args, false, 0
}
