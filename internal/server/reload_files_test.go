package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/frozen"
	"github.com/sockd/sockd/grammar"
	"github.com/sockd/sockd/internal/signals"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

// userFileServer serves rules that let the users listed in a user file
// through, from a text or a frozen rule file, and returns the file's path.
func userFileServer(t *testing.T, frozenRules bool) (*testServer, string) {
	t.Helper()
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rules := "permit *=" + users + " 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n"
	if !frozenRules {
		return startServer(t, rules, nil), users
	}
	fc := freezeRules(t, filepath.Join(dir, "sockd.fc"), rules)
	return startServer(t, "", func(o *Options) { o.ConfigPath = fc }), users
}

// freezeRules compiles rules into a frozen file at path, as make_sockdfc
// does: a valid checksum, whatever later happens to the files it names.
func freezeRules(t *testing.T, path, rules string) string {
	t.Helper()
	conf, diags := grammar.ParseSockd(path, []byte(rules), grammar.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	data, err := frozen.Encode(&frozen.File{Kind: frozen.KindSockdFC, Sockd: conf,
		Meta: frozen.Meta{Source: path, SourceSHA256: frozen.HashSource([]byte(rules))}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// boundedReload runs Reload, failing the test if it has not returned
// within 20 s (a loader reading /dev/zero or waiting on a FIFO).
func boundedReload(t *testing.T, srv *testServer) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- srv.Reload() }()
	return testnet.RecvT(t, ch, 20*time.Second, "Reload to return")
}

// TestReloadRefusesSwappedUserFile: a user file replaced by a link to
// /dev/zero or by a FIFO before a reload is refused at once with an error
// naming it, and the rules in force stay (issue 18, defect 11).
func TestReloadRefusesSwappedUserFile(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		frozen       bool
	}{
		{"text-zero", "/dev/zero", false}, {"text-fifo", "fifo", false},
		{"frozen-zero", "/dev/zero", true}, {"frozen-fifo", "fifo", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target
			srv, users := userFileServer(t, tc.frozen)
			echo := echoTarget(t, "tcp", "127.0.0.1:0").Addr().String()
			testnet.SwapFile(t, users, target)
			err := boundedReload(t, srv)
			if err == nil || !strings.Contains(err.Error(), users) || !strings.Contains(err.Error(), "not a regular file") {
				t.Fatalf("reload with %s as the user file: %v, want an error naming %s", target, err, users)
			}
			contains(t, srv.log, "reload failed, keeping the configuration in force")
			if got := v4Code(t, srv, echo, "alice"); got != socks.V4Granted {
				t.Fatalf("alice after the failed reload: %v (the old rules must stay)", got)
			}
		})
	}
}

// TestSignalsAnsweredAfterBadReload: with the user file of a frozen rule
// file swapped for a FIFO or a link to /dev/zero, SIGHUP does not take the
// signal loop with it: SIGUSR1 and SIGTERM are still answered, and the
// reload fails (issue 18, defect 11: only SIGKILL stopped the daemon).
func TestSignalsAnsweredAfterBadReload(t *testing.T) {
	for _, target := range []string{"fifo", "/dev/zero"} {
		t.Run(strings.TrimPrefix(target, "/dev/"), func(t *testing.T) {
			srv, users := userFileServer(t, true)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := signals.Handle(ctx, srv, time.Second, signals.Hooks{})
			testnet.SwapFile(t, users, target)
			if target == "fifo" {
				t.Cleanup(func() {
					// Should a loader still wait on the FIFO, a writer lets it go.
					if f, err := os.OpenFile(users, os.O_RDWR|syscall.O_NONBLOCK, 0); err == nil {
						f.Close()
					}
				})
			}
			syscall.Kill(os.Getpid(), syscall.SIGHUP)
			syscall.Kill(os.Getpid(), syscall.SIGUSR1)
			contains(t, srv.log, "effective configuration")
			contains(t, srv.log, "reload failed, keeping the configuration in force")
			syscall.Kill(os.Getpid(), syscall.SIGTERM)
			testnet.RecvT(t, done, 20*time.Second, "an answer to SIGTERM after a SIGHUP with "+target+" as user file")
		})
	}
}

// TestSIGHUPReloadDeadline: a reload that outlives its deadline is given
// up (the rules in force stay, the log says so) while SIGUSR1, further
// SIGHUPs and SIGTERM are answered; its late result is thrown away.
func TestSIGHUPReloadDeadline(t *testing.T) {
	srv := startServer(t, "deny 0.0.0.0 0.0.0.0\n", nil)
	release := make(chan struct{})
	var calls atomic.Int32
	srv.reloadLoad = func(s *Server) (*snapshot, error) {
		if calls.Add(1) == 1 {
			<-release // a file system that hangs
		}
		return s.loadSnapshot()
	}
	srv.reloadTimeout = 200 * time.Millisecond
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := signals.Handle(ctx, srv, time.Second, signals.Hooks{})

	os.WriteFile(srv.confPath, []byte(permitLoopback), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	contains(t, srv.log, "reload timed out, keeping the configuration in force")
	echo := echoTarget(t, "tcp", "127.0.0.1:0").Addr().String()
	if got := v4Code(t, srv, echo, "u"); got != socks.V4Rejected {
		t.Fatalf("after a timed-out reload: %v, want the old rules (rejected)", got)
	}
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	contains(t, srv.log, "effective configuration")
	// A further SIGHUP reloads, although the first load still hangs.
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, "the second reload", func() bool { return strings.Count(srv.log.String(), "configuration loaded") >= 2 })
	if got := v4Code(t, srv, echo, "u"); got != socks.V4Granted {
		t.Fatalf("after the second reload: %v", got)
	}
	// The first load's late result changes nothing.
	os.WriteFile(srv.confPath, []byte("deny 0.0.0.0 0.0.0.0\n"), 0o600)
	close(release)
	waitFor(t, "the stuck load to end", func() bool { return srv.stuckReloads.Load() == 0 })
	if got := v4Code(t, srv, echo, "u"); got != socks.V4Granted {
		t.Fatalf("after the abandoned load ended: %v, want the second reload's rules", got)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	testnet.RecvT(t, done, 20*time.Second, "an answer to SIGTERM")
}
