package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/socksclient"
	"github.com/sockd/sockd/policy"
)

// socksFlags are the client command's common flags.
type socksFlags struct {
	socksclient.Settings
	verbose bool
}

func newSocksCmd() *cobra.Command {
	f := &socksFlags{}
	root := &cobra.Command{
		Use:   "socks",
		Short: "SOCKS client: connect, listen (BIND) and explain routes, following socks.conf",
		Long: `socks reaches destinations the way a 4.3 socks.conf says: directly, refused, or through the
SOCKS4/4a/5/5h or HTTP CONNECT servers of a sockd line, tried in order (a server is itself reached
by the same rules, which makes chains).

The rules are -c FILE (text socks.conf or frozen socks.fc), else /etc/socks.fc, else
/etc/socks.conf; with none, everything is direct. Lines without @= use SOCKS_SERVER. --proxy URL
ignores the rules and goes through that one server. Credentials for servers come from
--credentials FILE (lines "upstream user password", readable by its owner only).

"socks identd" is the RFC 1413 Identification Daemon that a client host runs for servers started
with -i or -I.`,
		Example: `  ssh -o ProxyCommand='socks connect %h %p' host.example
  socks -c socks.conf route www.example.org 443
  socks --proxy socks5h://127.0.0.1:1080 connect example.org 80 < request.txt
  socks --proxy socks5://127.0.0.1:1080 listen 192.0.2.7 0
  socks identd`,
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&f.Config, "config", "c", "", "socks.conf or socks.fc (default: /etc/socks.fc, then /etc/socks.conf)")
	pf.StringVar(&f.SrelayConf, "srelay-conf", "", "route as this srelay.conf says, instead of a socks.conf")
	pf.StringVar(&f.Credentials, "credentials", "", "file of user names and passwords for the servers")
	pf.StringVar(&f.Proxy, "proxy", "", "go through this one server (URL), ignoring the rules")
	pf.StringVar(&f.User, "user", "", "user matched against *=userlist (default: the local user)")
	pf.DurationVar(&f.Timeout, "timeout", 2*time.Minute, "connecting, including every server's answer (4.3: 2 min)")
	pf.BoolVarP(&f.verbose, "verbose", "v", false, "say on stderr which route was taken")

	var asJSON bool
	route := &cobra.Command{
		Use:   "route HOST PORT",
		Short: "explain which line and which servers would be used, without connecting",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := f.client(cmd).Dialer()
			if err != nil {
				return err
			}
			t, err := destinationArg(args[0], args[1])
			if err != nil {
				return err
			}
			r := d.Plan(cmd.Context(), policy.CmdConnect, t, true)
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(r.JSON()); err != nil {
					return err
				}
			} else {
				r.Explain(cmd.OutOrStdout())
			}
			if r.Err != nil || r.Decision.Action == config.ClientDeny {
				return exitError(ExitInvalid)
			}
			return nil
		},
	}
	route.Flags().BoolVar(&asJSON, "json", false, "print the route as JSON")

	connect := &cobra.Command{
		Use:   "connect HOST PORT",
		Short: "join standard input and output to HOST PORT (an ssh ProxyCommand)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := destinationArg(args[0], args[1]); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
			defer cancel()
			c, path, err := f.client(cmd).Dial(ctx, net.JoinHostPort(args[0], args[1]))
			if err != nil {
				return usageIfBadProxy(err)
			}
			cancel()
			if f.verbose {
				fmt.Fprintf(cmd.ErrOrStderr(), "socks: connected to %s via %s\n", net.JoinHostPort(args[0], args[1]), path)
			}
			return socksclient.Join(c, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}

	listen := &cobra.Command{
		Use:   "listen HOST [PORT]",
		Short: "BIND through the server for the peer HOST, print the announced address, then join stdin/stdout to the peer",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			port := "0"
			if len(args) == 2 {
				port = args[1]
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
			defer cancel()
			ln, err := f.client(cmd).Listen(ctx, net.JoinHostPort(args[0], port))
			if err != nil {
				return usageIfBadProxy(err)
			}
			defer ln.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", ln.Addr())
			if fl, ok := cmd.OutOrStdout().(interface{ Sync() error }); ok {
				fl.Sync()
			}
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "socks: connection from %s\n", c.RemoteAddr())
			return socksclient.Join(c, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	root.AddCommand(connect, listen, route, newIdentdCmd(), newSocksRunCmd(f), newWrapHelperCmd())
	return root
}

// client is the flags' settings, with --verbose saying on standard
// error which route was taken.
func (f *socksFlags) client(cmd *cobra.Command) *socksclient.Settings {
	s := f.Settings
	if f.verbose {
		s.Logf = func(format string, args ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "socks: "+format+"\n", args...) }
	}
	return &s
}

// usageIfBadProxy makes a --proxy that names no server a usage error.
// destinationArg reads the HOST PORT arguments of route and connect: a port
// that is no number or service, or port 0, is a usage error.
func destinationArg(host, port string) (client.Target, error) {
	t, err := client.ParseTarget(net.JoinHostPort(host, port))
	if err != nil {
		return t, usageError{err}
	}
	if t.Port == 0 {
		return t, usagef("port 0 is not a destination")
	}
	return t, nil
}

func usageIfBadProxy(err error) error {
	var bad *socksclient.BadProxyError
	if errors.As(err, &bad) {
		return usageError{err}
	}
	return err
}
