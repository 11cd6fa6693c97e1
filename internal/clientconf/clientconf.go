// Package clientconf loads and reports the daemon's client configuration
// (rsockd mode): the socks.conf or socks.fc (or srelay.conf) whose lines
// say how a permitted destination is reached (directly, refused, or
// through upstream servers), the default servers of its sockd lines
// without @=, and the credentials file for those servers. It writes what
// "sockd -t", "sockd -T" and SIGUSR1 say of them.
//
// It does not dial: the client package follows the rules (client.Dialer),
// and the server (internal/server, upstream.go) builds a session's dialer
// from a Conf. The files are read by internal/load, the rules compiled by
// policy.
package clientconf

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/policy"
)

// Conf is a loaded client configuration. A nil *Conf means there is none:
// every destination is reached directly, and its reports print nothing.
type Conf struct {
	Rules       *policy.ClientPolicy
	Origin      load.Origin
	Defaults    []client.Upstream   // for sockd lines without @=; empty for none
	Credentials *client.Credentials // nil without a credentials file
}

// Options say which files to load.
type Options struct {
	// Path is the socks.conf or socks.fc; "" is none, unless Default asks
	// for 4.3's rsockd lookup (/etc/socks.fc, /etc/socks.conf).
	Path    string
	Default bool
	// Srelay says Path is a srelay.conf and Credentials a srelay.passwd.
	Srelay      bool
	Credentials string // the credentials file, "" for none
	// DefaultServers serve the sockd lines without @=; nil reads
	// SOCKS_SERVER, as 4.3's client library did.
	DefaultServers []client.Upstream
	Grammar        load.Options
	Pid            int // for %p in the rules' shell commands
}

// Load loads the files o names; it returns nil without a client
// configuration (a credentials file is still read, so a broken one is
// reported). log gets the line saying no default file was found.
func Load(o Options, log *slog.Logger) (*Conf, error) {
	path := o.Path
	if path == "" && o.Default {
		p, ok := load.FindFirst(load.SocksFC, load.SocksConf)
		if !ok {
			log.Info("rsockd: no /etc/socks.fc or /etc/socks.conf: every destination is reached directly")
		}
		path = p
	}
	c := &Conf{}
	if path != "" {
		conf, origin, err := load.Client(path, o.Srelay, o.Grammar)
		if err != nil {
			return nil, err
		}
		if c.Rules, err = policy.NewClient(conf, policy.Options{Pid: o.Pid}); err != nil {
			return nil, err
		}
		c.Origin = origin
		if c.Defaults, err = defaultServers(o.DefaultServers); err != nil {
			return nil, err
		}
	}
	if o.Credentials != "" {
		read := client.LoadCredentials
		if o.Srelay {
			read = client.LoadSrelayPasswd
		}
		creds, err := read(o.Credentials)
		if err != nil {
			return nil, err
		}
		c.Credentials = creds
	}
	if c.Rules == nil {
		return nil, nil
	}
	return c, nil
}

// defaultServers are the servers of sockd lines without @=: the option,
// else SOCKS_SERVER, as 4.3's client library read it.
func defaultServers(opt []client.Upstream) ([]client.Upstream, error) {
	if opt != nil {
		return opt, nil
	}
	env, err := client.EnvServers()
	if env == nil {
		env = []client.Upstream{}
	}
	return env, err
}

// LogLoaded logs what was loaded, and a warning for each sockd line that
// needs a default server when none is given.
func (c *Conf) LogLoaded(log *slog.Logger) {
	if c == nil {
		return
	}
	log.Info("client configuration loaded", "file", c.Origin.Path, "checksum", c.Origin.Checksum,
		"frozen", c.Origin.Frozen, "rules", len(c.Rules.Conf().Rules))
	if w := c.Origin.StaleWarning(); w != "" {
		log.Warn(w)
	}
	for _, r := range c.needsDefault() {
		log.Warn("a sockd line names no server (@=) and there is no default server (--default-server or SOCKS_SERVER): its requests will be refused",
			"file", c.Origin.Path, "line", r.Pos.Line)
	}
	if c.Credentials != nil {
		log.Info("upstream credentials loaded", "file", c.Credentials.Source, "entries", c.Credentials.Len())
	}
}

// needsDefault lists the sockd lines without @= when there is no default
// server: their destinations would all be refused.
func (c *Conf) needsDefault() []config.ClientRule {
	if len(c.Defaults) > 0 {
		return nil
	}
	var out []config.ClientRule
	for _, r := range c.Rules.Conf().Rules {
		if r.Action == config.ClientSockd && len(r.Servers) == 0 {
			out = append(out, r)
		}
	}
	return out
}

// Report is what "sockd -t" says of the client configuration: the file,
// and a warning for each sockd line that needs a default server when none
// is given.
func (c *Conf) Report(w io.Writer) {
	if c == nil {
		return
	}
	o := c.Origin
	if stale := o.StaleWarning(); stale != "" {
		fmt.Fprintln(w, stale)
	}
	fmt.Fprintf(w, "%s: %d client rules, ok (sha256 %s)\n", o.Path, len(c.Rules.Conf().Rules), o.Checksum)
	if len(c.Defaults) > 0 {
		fmt.Fprintf(w, "default server for sockd lines without @=: %s\n", upstreamList(c.Defaults))
	}
	for _, r := range c.needsDefault() {
		fmt.Fprintf(w, "%s:%d: warning: this sockd line names no server (@=) and there is no default server (--default-server or SOCKS_SERVER): its requests will be refused\n    %s\n",
			o.Path, r.Pos.Line, r.Text)
	}
}

func upstreamList(us []client.Upstream) string {
	var b strings.Builder
	for i, u := range us {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(u.String())
	}
	return b.String()
}

// Dump logs the rules as canonical text (SIGUSR1 in rsockd mode).
func (c *Conf) Dump(log *slog.Logger) {
	if c == nil {
		return
	}
	var b bytes.Buffer
	if err := config.WriteSocks(&b, c.Rules.Conf()); err != nil {
		log.Error("cannot print the client configuration", "err", err)
		return
	}
	o := c.Origin
	log.Info("effective client configuration", "file", o.Path, "checksum", o.Checksum, "rules", len(c.Rules.Conf().Rules),
		"default_servers", upstreamList(c.Defaults))
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		log.Info("client: "+line, "file", o.Path)
	}
}

// WriteEffective writes the rules as canonical text, after the server's
// ("sockd -T"), with the default servers.
func (c *Conf) WriteEffective(w io.Writer) error {
	if c == nil {
		return nil
	}
	o := c.Origin
	fmt.Fprintf(w, "# client rules: %s (sha256 %s, %d rules", o.Path, o.Checksum, len(c.Rules.Conf().Rules))
	if o.Frozen {
		fmt.Fprint(w, ", frozen")
	}
	fmt.Fprintln(w, ")")
	if err := config.WriteSocks(w, c.Rules.Conf()); err != nil {
		return err
	}
	if len(c.Defaults) == 0 {
		fmt.Fprintln(w, "# default server: none")
	} else {
		fmt.Fprintf(w, "# default server: %s\n", upstreamList(c.Defaults))
	}
	return nil
}
