package server

// What the daemon tells about the configuration in force: "sockd -t"
// (CheckReport), "sockd -T" (WriteEffective), SIGUSR1 (DumpConfig, to the
// log Logger returns), and the health check's answer (Closing, RulesFile;
// package opsweb serves it).

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/load"
)

// Logger is the daemon's log (Options.Logger).
func (s *Server) Logger() *slog.Logger { return s.log }

// Closing reports whether the server has stopped accepting (it is
// draining or stopped): the health check then fails, so that a load
// balancer sends new clients elsewhere.
func (s *Server) Closing() bool { return s.isClosing() }

// RulesFile is the rules file in force and its checksum, which the health
// check names.
func (s *Server) RulesFile() (path, checksum string) {
	snap := s.snap.Load()
	return snap.origin.Path, snap.origin.Checksum
}

// CheckReport writes what "sockd -t" says about the files loaded: every
// warning with its position, then one summary line per file.
func (s *Server) CheckReport(w io.Writer) {
	snap := s.snap.Load()
	if len(snap.origin.Warnings) > 0 {
		snap.origin.Warnings.WriteText(w)
	}
	for _, o := range []load.Origin{snap.origin, snap.routeOrigin} {
		if st := o.StaleWarning(); st != "" {
			fmt.Fprintln(w, st)
		}
	}
	what := "rules"
	if snap.origin.Embedded {
		what = "rules (the embedded default: loopback clients only)"
	}
	fmt.Fprintf(w, "%s: %d %s, ok (sha256 %s)\n", snap.origin.Path, len(snap.conf.Rules), what, snap.origin.Checksum)
	if sh := snap.shadow; sh != nil {
		fmt.Fprintf(w, "%s: %d shadow rules, ok (sha256 %s)\n", sh.Origin().Path, sh.Len(), sh.Origin().Checksum)
	}
	if snap.routes != nil {
		fmt.Fprintf(w, "%s: %d routes, ok (sha256 %s)\n", snap.routeOrigin.Path, len(snap.routes.Routes), snap.routeOrigin.Checksum)
	}
	if snap.passwords != nil {
		fmt.Fprintf(w, "%s: %d users, ok\n", snap.passwords.Source, snap.passwords.Len())
	}
}

// WriteEffective writes the effective rules, routes and the files they
// came from as canonical text: what "sockd -T" prints and SIGUSR1 logs.
func (s *Server) WriteEffective(w io.Writer) error {
	snap := s.snap.Load()
	fmt.Fprintf(w, "# rules: %s (sha256 %s, %d rules", snap.origin.Path, snap.origin.Checksum, len(snap.conf.Rules))
	if snap.origin.Frozen {
		fmt.Fprint(w, ", frozen")
	}
	fmt.Fprintln(w, ")")
	if err := config.WriteSockd(w, snap.conf); err != nil {
		return err
	}
	if snap.routes == nil {
		fmt.Fprintln(w, "# routes: none (the system chooses the interface)")
	} else {
		fmt.Fprintf(w, "# routes: %s (sha256 %s, %d routes)\n", snap.routeOrigin.Path, snap.routeOrigin.Checksum, len(snap.routes.Routes))
		if err := config.WriteRoute(w, snap.routes); err != nil {
			return err
		}
	}
	if snap.passwords != nil {
		fmt.Fprintf(w, "# passwords: %s (%d users)\n", snap.passwords.Source, snap.passwords.Len())
	}
	fmt.Fprintf(w, "# SOCKS5 methods: %v; identd mode: %v\n", s.opts.Methods, s.opts.IdentMode)
	return nil
}

// DumpConfig writes the effective rules and routes to the log as canonical
// text, one log entry per line, with the file and checksum they came from
// (SIGUSR1).
func (s *Server) DumpConfig() {
	snap := s.snap.Load()
	defer snap.client.Dump(s.log) // rsockd mode: the socks.conf routes too
	if !s.logCanonical("configuration", "config: ", snap.origin,
		func(w io.Writer) error { return config.WriteSockd(w, snap.conf) }, "rules", len(snap.conf.Rules)) {
		return
	}
	for _, line := range snap.hits.Report(snap.conf.Rules) {
		s.log.Info(line, "file", snap.origin.Path)
	}
	if snap.routes == nil {
		s.log.Info("no route file: the system chooses the interface")
		return
	}
	s.logCanonical("routes", "route: ", snap.routeOrigin,
		func(w io.Writer) error { return config.WriteRoute(w, snap.routes) }, "routes", len(snap.routes.Routes))
}

// logCanonical logs the canonical text write makes of a file's contents,
// one entry per line with prefix, under the entry "effective what" that
// names the file, its checksum and attrs (its count of entries). When
// write fails, that is logged instead, and it returns false.
func (s *Server) logCanonical(what, prefix string, o load.Origin, write func(io.Writer) error, attrs ...any) bool {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		s.log.Error("cannot print the "+what, "err", err)
		return false
	}
	s.log.Info("effective "+what, append([]any{"file", o.Path, "checksum", o.Checksum}, attrs...)...)
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		s.log.Info(prefix+line, "file", o.Path)
	}
	return true
}
