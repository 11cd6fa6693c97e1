// Package effective words the configuration a daemon has in force: what
// "sockd -t" says about the files loaded (Check), the canonical text
// "sockd -T" prints (Write), and the same text logged line by line on
// SIGUSR1 (Log), each naming the files and checksums the rules, routes and
// passwords came from.
//
// It only words what it is given: loading the files and keeping the
// snapshot in force is internal/server's (with internal/load), the
// canonical text of rules and routes is package config's, and rsockd's
// socks.conf routes are worded by internal/clientconf.
package effective

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/auth"
	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/internal/shadow"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// Config is the configuration in force, as the daemon loaded it.
type Config struct {
	Rules      *config.SockdConf
	RulesFrom  load.Origin
	Routes     *config.RouteConf // nil without a route file
	RoutesFrom load.Origin
	Passwords  *auth.Passwords   // nil without a password file
	Shadow     *shadow.Candidate // --shadow candidate rules, nil without
	Hits       *policy.Hits      // per-line counters, for Log's report
	Methods    []socks.Method    // the SOCKS5 methods offered
	IdentMode  policy.IdentMode  // -i or -I
}

// Check writes what "sockd -t" says about the files loaded: every warning
// with its position, then one summary line per file.
func (c *Config) Check(w io.Writer) {
	if len(c.RulesFrom.Warnings) > 0 {
		c.RulesFrom.Warnings.WriteText(w)
	}
	for _, o := range []load.Origin{c.RulesFrom, c.RoutesFrom} {
		if st := o.StaleWarning(); st != "" {
			fmt.Fprintln(w, st)
		}
	}
	what := "rules"
	if c.RulesFrom.Embedded {
		what = "rules (the embedded default: loopback clients only)"
	}
	fmt.Fprintf(w, "%s: %d %s, ok (sha256 %s)\n", c.RulesFrom.Path, len(c.Rules.Rules), what, c.RulesFrom.Checksum)
	if sh := c.Shadow; sh != nil {
		fmt.Fprintf(w, "%s: %d shadow rules, ok (sha256 %s)\n", sh.Origin().Path, sh.Len(), sh.Origin().Checksum)
	}
	if c.Routes != nil {
		fmt.Fprintf(w, "%s: %d routes, ok (sha256 %s)\n", c.RoutesFrom.Path, len(c.Routes.Routes), c.RoutesFrom.Checksum)
	}
	if c.Passwords != nil {
		fmt.Fprintf(w, "%s: %d users, ok\n", c.Passwords.Source, c.Passwords.Len())
	}
}

// Write writes the effective rules, routes and the files they came from
// as canonical text: what "sockd -T" prints.
func (c *Config) Write(w io.Writer) error {
	fmt.Fprintf(w, "# rules: %s (sha256 %s, %d rules", c.RulesFrom.Path, c.RulesFrom.Checksum, len(c.Rules.Rules))
	if c.RulesFrom.Frozen {
		fmt.Fprint(w, ", frozen")
	}
	fmt.Fprintln(w, ")")
	if err := config.WriteSockd(w, c.Rules); err != nil {
		return err
	}
	if c.Routes == nil {
		fmt.Fprintln(w, "# routes: none (the system chooses the interface)")
	} else {
		fmt.Fprintf(w, "# routes: %s (sha256 %s, %d routes)\n", c.RoutesFrom.Path, c.RoutesFrom.Checksum, len(c.Routes.Routes))
		if err := config.WriteRoute(w, c.Routes); err != nil {
			return err
		}
	}
	if c.Passwords != nil {
		fmt.Fprintf(w, "# passwords: %s (%d users)\n", c.Passwords.Source, c.Passwords.Len())
	}
	fmt.Fprintf(w, "# SOCKS5 methods: %v; identd mode: %v\n", c.Methods, c.IdentMode)
	return nil
}

// Log writes the effective rules, the rules' hit counts and the routes to
// log as canonical text, one log entry per line, with the file and
// checksum they came from (SIGUSR1).
func (c *Config) Log(log *slog.Logger) {
	if !logCanonical(log, "configuration", "config: ", c.RulesFrom,
		func(w io.Writer) error { return config.WriteSockd(w, c.Rules) }, "rules", len(c.Rules.Rules)) {
		return
	}
	for _, line := range c.Hits.Report(c.Rules.Rules) {
		log.Info(line, "file", c.RulesFrom.Path)
	}
	if c.Routes == nil {
		log.Info("no route file: the system chooses the interface")
		return
	}
	logCanonical(log, "routes", "route: ", c.RoutesFrom,
		func(w io.Writer) error { return config.WriteRoute(w, c.Routes) }, "routes", len(c.Routes.Routes))
}

// logCanonical logs the canonical text write makes of a file's contents,
// one entry per line with prefix, under the entry "effective what" that
// names the file, its checksum and attrs (its count of entries). When
// write fails, that is logged instead, and it returns false.
func logCanonical(log *slog.Logger, what, prefix string, o load.Origin, write func(io.Writer) error, attrs ...any) bool {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		log.Error("cannot print the "+what, "err", err)
		return false
	}
	log.Info("effective "+what, append([]any{"file", o.Path, "checksum", o.Checksum}, attrs...)...)
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		log.Info(prefix+line, "file", o.Path)
	}
	return true
}
