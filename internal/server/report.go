package server

// What the daemon tells about the configuration in force: "sockd -t"
// (CheckReport), "sockd -T" (WriteEffective), SIGUSR1 (DumpConfig), and
// the health check's answer (Closing, RulesFile; package opsweb serves it).

import (
	"fmt"
	"io"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/load"
)

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
