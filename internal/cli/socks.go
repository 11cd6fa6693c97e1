package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/policy"
)

// socksFlags are the client command's common flags.
type socksFlags struct {
	config, credentials, proxy, user string
	srelayConf                       string
	timeout                          time.Duration
	verbose                          bool
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
	pf.StringVarP(&f.config, "config", "c", "", "socks.conf or socks.fc (default: /etc/socks.fc, then /etc/socks.conf)")
	pf.StringVar(&f.srelayConf, "srelay-conf", "", "route as this srelay.conf says, instead of a socks.conf")
	pf.StringVar(&f.credentials, "credentials", "", "file of user names and passwords for the servers")
	pf.StringVar(&f.proxy, "proxy", "", "go through this one server (URL), ignoring the rules")
	pf.StringVar(&f.user, "user", "", "user matched against *=userlist (default: the local user)")
	pf.DurationVar(&f.timeout, "timeout", 2*time.Minute, "connecting, including every server's answer (4.3: 2 min)")
	pf.BoolVarP(&f.verbose, "verbose", "v", false, "say on stderr which route was taken")

	var asJSON bool
	route := &cobra.Command{
		Use:   "route HOST PORT",
		Short: "explain which line and which servers would be used, without connecting",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := f.dialer(cmd)
			if err != nil {
				return err
			}
			t, err := client.ParseTarget(net.JoinHostPort(args[0], args[1]))
			if err != nil {
				return usageError{err}
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
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			c, path, err := f.dial(ctx, cmd, net.JoinHostPort(args[0], args[1]))
			if err != nil {
				return err
			}
			cancel()
			if f.verbose {
				fmt.Fprintf(cmd.ErrOrStderr(), "socks: connected to %s via %s\n", net.JoinHostPort(args[0], args[1]), path)
			}
			return join(c, cmd.InOrStdin(), cmd.OutOrStdout())
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
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			var ln net.Listener
			var err error
			if f.proxy != "" {
				var p *client.ProxyDialer
				if p, err = f.proxyDialer(); err != nil {
					return err
				}
				ln, err = p.Listen(ctx, net.JoinHostPort(args[0], port))
			} else {
				var d *client.Dialer
				if d, err = f.dialer(cmd); err != nil {
					return err
				}
				ln, err = d.Listen(ctx, "tcp", net.JoinHostPort(args[0], port))
			}
			if err != nil {
				return err
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
			return join(c, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	root.AddCommand(connect, listen, route, newIdentdCmd(), newSocksRunCmd(f), newWrapHelperCmd())
	return root
}

// proxyDialer is --proxy with the flags a rule-following dialer also
// takes: --user (the SOCKS4 USERID), --credentials and --timeout.
func (f *socksFlags) proxyDialer() (*client.ProxyDialer, error) {
	o := client.ProxyOptions{UserID: f.user, HandshakeTimeout: f.timeout}
	if f.credentials != "" {
		var err error
		if o.Credentials, err = client.LoadCredentials(f.credentials); err != nil {
			return nil, err
		}
	}
	p, err := client.NewProxyDialerWith(f.proxy, nil, o)
	if err != nil {
		return nil, usageError{err}
	}
	return p, nil
}

func (f *socksFlags) dialer(cmd *cobra.Command) (*client.Dialer, error) {
	d := &client.Dialer{User: f.user, HandshakeTimeout: f.timeout}
	var err error
	if f.srelayConf != "" {
		var conf *config.SocksConf
		if conf, _, err = load.Srelay(f.srelayConf, load.Options{}); err == nil {
			d.Rules, err = policy.NewClient(conf, policy.Options{Pid: os.Getpid()})
		}
	} else if f.config != "" {
		d.Rules, err = client.LoadRules(f.config)
	} else {
		d.Rules, err = client.DefaultRules()
	}
	if err != nil {
		return nil, err
	}
	if f.credentials != "" {
		if d.Credentials, err = client.LoadCredentials(f.credentials); err != nil {
			return nil, err
		}
	}
	if f.verbose {
		d.Logf = func(format string, args ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "socks: "+format+"\n", args...) }
	}
	d.RunCommand = func(c string) {
		sh := exec.Command("/bin/sh", "-c", c)
		sh.Stdout, sh.Stderr = os.Stderr, os.Stderr
		if err := sh.Start(); err == nil {
			go sh.Wait()
		}
	}
	return d, nil
}

// dial connects following the rules or through --proxy, and says which
// chain was used.
func (f *socksFlags) dial(ctx context.Context, cmd *cobra.Command, addr string) (net.Conn, string, error) {
	if f.proxy != "" {
		p, err := f.proxyDialer()
		if err != nil {
			return nil, "", err
		}
		c, err := p.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, "", err
		}
		return c, p.Upstream().String(), nil
	}
	d, err := f.dialer(cmd)
	if err != nil {
		return nil, "", err
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, "", err
	}
	return c, c.(*client.Conn).PathString(), nil
}

// join copies in to c and c to out until c's side ends; the end of in is
// passed on as a half-close, so a request-then-answer protocol works.
func join(c net.Conn, in io.Reader, out io.Writer) error {
	defer c.Close()
	go func() {
		io.Copy(c, in)
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}()
	_, err := io.Copy(out, c)
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
