package server

import (
	"fmt"
	"time"

	"github.com/sockd/sockd/internal/systemd"
)

// DefaultReloadTimeout bounds a reload started by SIGHUP. Every file is
// opened without blocking and read within a size cap (boundedfile), so a
// reload that takes longer is reading from a file system that hangs (a
// dead NFS server): the rules in force stay, and the daemon goes on.
const DefaultReloadTimeout = 30 * time.Second

// maxStuckReloads bounds the loads that outlived their deadline and still
// run: each holds a goroutine and what it read so far, so past this many
// a SIGHUP is refused until one of them ends.
const maxStuckReloads = 4

// ReloadWithDeadline is Reload within the reload deadline
// (DefaultReloadTimeout), for the signal loop (package signals): past the
// deadline it gives up, logs it and keeps the rules in force, and
// whatever the abandoned load returns later is thrown away.
func (s *Server) ReloadWithDeadline() (err error) {
	timeout := s.reloadTimeout
	if n := s.stuckReloads.Load(); n >= maxStuckReloads {
		err = fmt.Errorf("%d earlier reloads are still reading files past their deadline", n)
		s.logLoadError("reload refused, keeping the configuration in force", err)
		s.metrics.Reloaded(err)
		return err
	}
	s.reloadStarting()
	defer func() { s.reloadDone(err) }()
	type result struct {
		snap *snapshot
		err  error
	}
	ch := make(chan result, 1) // the abandoned load's send never blocks
	go func() {
		snap, err := s.reloadLoad(s)
		ch <- result{snap, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			s.logLoadError("reload failed, keeping the configuration in force", r.err)
			return r.err
		}
		// As Reload does.
		s.snap.Store(r.snap)
		s.logLoaded(r.snap)
		s.warnOpenListeners(r.snap)
		return nil
	case <-timer.C:
		s.stuckReloads.Add(1)
		go func() { <-ch; s.stuckReloads.Add(-1) }()
		err = fmt.Errorf("reload did not finish within %v", timeout)
		s.logLoadError("reload timed out, keeping the configuration in force", err)
		return err
	}
}

// reloadStarting and reloadDone bracket Reload: the metrics count it and a
// service manager is told (sd_notify RELOADING=1 ... READY=1), so that
// "systemctl status" shows the reload and its result.
func (s *Server) reloadStarting() {
	if s.opts.Notify != nil {
		s.opts.Notify(systemd.Reloading())
	}
}

func (s *Server) reloadDone(err error) {
	s.metrics.Reloaded(err)
	if err == nil {
		snap := s.snap.Load()
		s.metrics.Loaded(snap.origin, snap.routeOrigin)
	}
	if s.opts.Notify != nil {
		status := "STATUS=serving, configuration reloaded"
		if err != nil {
			status = "STATUS=serving, reload failed (previous configuration kept): " + oneLine(err.Error())
		}
		s.opts.Notify("READY=1\n" + status)
	}
}

func oneLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i] + " ..."
		}
	}
	return s
}
