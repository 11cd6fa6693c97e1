// Package socksclient is what the `socks` command does with its settings:
// it builds the client.Dialer that follows socks.conf (or srelay.conf), or
// the client.ProxyDialer of --proxy, connects or listens (BIND) through
// it, and joins standard input and output to the connection, as an ssh
// ProxyCommand needs.
//
// The SOCKS client itself (rules, chains, handshakes) is the client
// package; `socks run` is internal/socksify; the command line is
// internal/cli's.
package socksclient

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"time"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/policy"
)

// Settings are the socks command's common flags.
type Settings struct {
	Config      string // socks.conf or socks.fc; "" for the default lookup
	SrelayConf  string // route as this srelay.conf says instead
	Credentials string // the servers' user names and passwords
	Proxy       string // one server URL for everything, ignoring the rules
	User        string // matched against *=userlist; the SOCKS4 USERID
	Timeout     time.Duration
	// Logf, if not nil, says which route was taken (--verbose).
	Logf func(format string, args ...any)
}

// BadProxyError is a Proxy that names no server: a mistake in the
// command line rather than a failure to connect.
type BadProxyError struct{ Err error }

func (e *BadProxyError) Error() string { return e.Err.Error() }
func (e *BadProxyError) Unwrap() error { return e.Err }

// ProxyDialer is Proxy with the settings a rule-following dialer also
// takes: User (the SOCKS4 USERID), Credentials and Timeout.
func (s *Settings) ProxyDialer() (*client.ProxyDialer, error) {
	o := client.ProxyOptions{UserID: s.User, HandshakeTimeout: s.Timeout}
	if s.Credentials != "" {
		var err error
		if o.Credentials, err = client.LoadCredentials(s.Credentials); err != nil {
			return nil, err
		}
	}
	p, err := client.NewProxyDialerWith(s.Proxy, nil, o)
	if err != nil {
		return nil, &BadProxyError{err}
	}
	return p, nil
}

// Dialer is the dialer that follows the rules: SrelayConf's, Config's, or
// the default lookup's. A rule's shell command runs beside the
// connection, its output on standard error.
func (s *Settings) Dialer() (*client.Dialer, error) {
	d := &client.Dialer{User: s.User, HandshakeTimeout: s.Timeout, Logf: s.Logf}
	var err error
	if s.SrelayConf != "" {
		var conf *config.SocksConf
		if conf, _, err = load.Srelay(s.SrelayConf, load.Options{}); err == nil {
			d.Rules, err = policy.NewClient(conf, policy.Options{Pid: os.Getpid()})
		}
	} else if s.Config != "" {
		d.Rules, err = client.LoadRules(s.Config)
	} else {
		d.Rules, err = client.DefaultRules()
	}
	if err != nil {
		return nil, err
	}
	if s.Credentials != "" {
		if d.Credentials, err = client.LoadCredentials(s.Credentials); err != nil {
			return nil, err
		}
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

// dialer is the one dialer the settings choose: p for Proxy, else d,
// which follows the rules.
func (s *Settings) dialer() (p *client.ProxyDialer, d *client.Dialer, err error) {
	if s.Proxy != "" {
		p, err = s.ProxyDialer()
		return p, nil, err
	}
	d, err = s.Dialer()
	return nil, d, err
}

// Dial connects to addr following the rules or through Proxy, and says
// which chain was used.
func (s *Settings) Dial(ctx context.Context, addr string) (net.Conn, string, error) {
	p, d, err := s.dialer()
	if err != nil {
		return nil, "", err
	}
	if p != nil {
		c, err := p.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, "", err
		}
		return c, p.Upstream().String(), nil
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, "", err
	}
	return c, c.(*client.Conn).PathString(), nil
}

// Listen asks the server that the rules or Proxy choose to listen (BIND)
// for a connection from addr.
func (s *Settings) Listen(ctx context.Context, addr string) (net.Listener, error) {
	p, d, err := s.dialer()
	if err != nil {
		return nil, err
	}
	if p != nil {
		return p.Listen(ctx, addr)
	}
	return d.Listen(ctx, "tcp", addr)
}

// Join copies in to c and c to out until c's side ends; the end of in is
// passed on as a half-close, so a request-then-answer protocol works.
func Join(c net.Conn, in io.Reader, out io.Writer) error {
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
