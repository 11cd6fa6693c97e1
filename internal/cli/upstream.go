package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/internal/diag"
	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/internal/simulate"
	"github.com/sockd/sockd/policy"
)

// addUpstreamFlags adds rsockd mode to the daemon: started as rsockd, it
// follows 4.3's lookup of the client file (/etc/socks.fc, then
// /etc/socks.conf) without being told; as sockd, --client-config turns it on.
func addUpstreamFlags(root *cobra.Command, f *serveFlags) {
	fs := root.Flags()
	fs.StringVar(&f.clientConfig, "client-config", "", "socks.conf or frozen socks.fc: how permitted requests reach their destinations (direct, deny, or through upstreams; rsockd mode)")
	fs.StringVar(&f.credentials, "credentials", "", "file of user names and passwords for upstream servers (never the clients' own)")
	fs.StringArrayVar(&f.defaultServers, "default-server", nil, "server for socks.conf sockd lines without @=, host[:port] (SOCKS4) or a URL (repeatable, tried in order; default: SOCKS_SERVER)")
	fs.StringVar(&f.srelayConf, "srelay-conf", "", "srelay.conf: how permitted requests reach their destinations, as srelay's next hops (--credentials is then a srelay.passwd)")
	f.rsockd = root.Name() == "rsockd"
	if f.rsockd {
		root.Short = "SOCKS server that reaches destinations directly or through other SOCKS servers (4.3's rsockd)"
		root.Long += `

As rsockd it then reaches each permitted destination the way the client file says (--client-config,
default /etc/socks.fc, then /etc/socks.conf; with neither, directly): direct, deny, or through
the upstream servers of a sockd line, tried in order.`
	}
}

// loadClientForTool loads a socks.conf or socks.fc for the simulator: a
// Dialer that plans routes but never asks DNS, with the default servers the
// daemon would use (--default-server, else SOCKS_SERVER). srelay says path
// is a srelay.conf.
func loadClientForTool(cmd *cobra.Command, path string, srelay bool, defaultServers []string) (*client.Dialer, error) {
	defaults, err := (&serveFlags{defaultServers: defaultServers}).defaultServerList()
	if err != nil {
		return nil, err
	}
	if defaults == nil {
		if defaults, err = client.EnvServers(); err != nil {
			return nil, usageError{err}
		}
		if defaults == nil {
			defaults = []client.Upstream{}
		}
	}
	conf, origin, err := load.Client(path, srelay, load.Options{})
	stderr := cmd.ErrOrStderr()
	if err != nil {
		if l := diag.List(nil); errors.As(err, &l) {
			l.WriteText(stderr)
		} else {
			fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
		}
		return nil, exitError(ExitUsage)
	}
	if w := origin.StaleWarning(); w != "" {
		fmt.Fprintf(stderr, "%s: %s\n", cmd.CommandPath(), w)
	}
	pol, err := policy.NewClient(conf, policy.Options{Pid: os.Getpid()})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s: %v\n", cmd.CommandPath(), origin.Path, err)
		return nil, exitError(ExitUsage)
	}
	return simulate.Routes(pol, defaults), nil
}

// defaultServers parses --default-server; nil (no flag) leaves the daemon
// to read SOCKS_SERVER, as 4.3's client library did.
func (f *serveFlags) defaultServerList() ([]client.Upstream, error) {
	if len(f.defaultServers) == 0 {
		return nil, nil
	}
	out := []client.Upstream{}
	for _, v := range f.defaultServers {
		for _, one := range strings.Split(v, ",") {
			u, err := client.ParseUpstream(strings.TrimSpace(one))
			if err != nil {
				return nil, usagef("--default-server: %v", err)
			}
			out = append(out, u)
		}
	}
	return out, nil
}
