package server

// What the daemon tells about the configuration in force: "sockd -t"
// (CheckReport), "sockd -T" (WriteEffective), SIGUSR1 (DumpConfig, to the
// log Logger returns), worded by internal/effective, and the health
// check's answer (Closing, RulesFile; package opsweb serves it).

import (
	"io"
	"log/slog"

	"github.com/sockd/sockd/internal/effective"
)

// Logger is the daemon's log (Options.Logger).
func (s *Server) Logger() *slog.Logger { return s.log }

// RulesFile is the rules file in force and its checksum, which the health
// check names.
func (s *Server) RulesFile() (path, checksum string) {
	snap := s.snap.Load()
	return snap.origin.Path, snap.origin.Checksum
}

// effective is the configuration of snap, with the options in force.
func (s *Server) effective(snap *snapshot) *effective.Config {
	return &effective.Config{Rules: snap.conf, RulesFrom: snap.origin, Routes: snap.routes, RoutesFrom: snap.routeOrigin,
		Passwords: snap.passwords, Shadow: snap.shadow, Hits: snap.hits, Methods: s.opts.Methods, IdentMode: s.opts.IdentMode}
}

// CheckReport writes what "sockd -t" says about the files loaded: every
// warning with its position, then one summary line per file.
func (s *Server) CheckReport(w io.Writer) { s.effective(s.snap.Load()).Check(w) }

// WriteEffective writes the effective rules, routes and the files they
// came from as canonical text: what "sockd -T" prints and SIGUSR1 logs.
func (s *Server) WriteEffective(w io.Writer) error { return s.effective(s.snap.Load()).Write(w) }

// DumpConfig writes the effective rules and routes to the log as canonical
// text, one log entry per line, with the file and checksum they came from
// (SIGUSR1); in rsockd mode, the socks.conf routes too.
func (s *Server) DumpConfig() {
	snap := s.snap.Load()
	s.effective(snap).Log(s.log)
	snap.client.Dump(s.log)
}
