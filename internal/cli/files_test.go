package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
)

// runBounded runs a command in-process and fails the test if it has not
// ended within 20 s (a loader waiting on a FIFO or reading /dev/zero).
func runBounded(t *testing.T, name string, args ...string) (int, string) {
	t.Helper()
	type result struct {
		code   int
		stderr string
	}
	ch := make(chan result, 1)
	go func() {
		code, _, stderr := runTool(t, name, "", args...)
		ch <- result{code, stderr}
	}()
	select {
	case r := <-ch:
		return r.code, r.stderr
	case <-time.After(20 * time.Second):
		t.Fatalf("%s %s has not ended after 20 s", name, strings.Join(args, " "))
		return 0, ""
	}
}

// TestFrozenUserFileNotRegular: a frozen file with a valid checksum whose
// rule names a user file that is /dev/zero or a FIFO makes sockd -t,
// simulate and the daemon's start fail at once with an error naming the
// file, instead of eating memory or hanging (issue 18, defect 10).
func TestFrozenUserFileNotRegular(t *testing.T) {
	for _, target := range []string{"/dev/zero", "fifo"} {
		t.Run(strings.TrimPrefix(target, "/dev/"), func(t *testing.T) {
			users, fc := frozenWithUserFile(t)
			// The frozen file stays valid; the file it names changes.
			testnet.SwapFile(t, users, target)
			for _, args := range [][]string{
				{"-t", "-c", fc},
				{"simulate", "-c", fc, "--from", "127.0.0.1", "--to", "127.0.0.1", "--port", "80", "--user", "alice"},
				{"-c", fc, "--listen", "127.0.0.1:0"},
			} {
				code, stderr := runBounded(t, "sockd", args...)
				// simulate says 2 for files it cannot load, the daemon 1.
				if code == ExitOK || !strings.Contains(stderr, users) || !strings.Contains(stderr, "not a regular file") {
					t.Errorf("sockd %s: exit %d, stderr %q; want a failure naming %s", strings.Join(args, " "), code, stderr, users)
				}
			}
		})
	}
}

// TestDaemonAnswersSignalsAfterBadReload: the daemon, as its own process,
// with a frozen rule file whose user file is swapped for a link to
// /dev/zero or a FIFO before SIGHUP: the reload fails and keeps the rules,
// SIGUSR1 is answered, and SIGTERM stops the daemon (issue 18, defect 11:
// RSS ran past 250 MB, or the signal loop hung until SIGKILL).
func TestDaemonAnswersSignalsAfterBadReload(t *testing.T) {
	for _, target := range []string{"/dev/zero", "fifo"} {
		t.Run(strings.TrimPrefix(target, "/dev/"), func(t *testing.T) {
			users, fc := frozenWithUserFile(t)
			d := startDaemonProc(t, nil, "-c", fc, "--listen", "127.0.0.1:0", "--log-format", "json", "--drain-timeout", "2s")
			d.waitLog(t, 1, "configuration loaded", nil)
			testnet.SwapFile(t, users, target)
			d.cmd.Process.Signal(syscall.SIGHUP)
			d.waitLog(t, 1, "reload failed, keeping the configuration in force", nil)
			d.cmd.Process.Signal(syscall.SIGUSR1)
			d.waitLog(t, 1, "effective configuration", nil)
			d.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-d.done:
			case <-time.After(20 * time.Second):
				t.Fatal("SIGTERM not answered within 20 s")
			}
			if code := d.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("daemon exited %d after SIGTERM, want 0", code)
			}
		})
	}
}

// frozenWithUserFile compiles a sockd.fc whose first rule names a user
// file (alice) and returns the user file's and the frozen file's paths.
func frozenWithUserFile(t *testing.T) (users, fc string) {
	t.Helper()
	dir := t.TempDir()
	users = filepath.Join(dir, "users")
	conf := filepath.Join(dir, "sockd.conf")
	fc = filepath.Join(dir, "sockd.fc")
	os.WriteFile(users, []byte("alice\n"), 0o600)
	os.WriteFile(conf, []byte("permit *="+users+" 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n"), 0o600)
	if code, _, stderr := runTool(t, "make_sockdfc", "", conf, fc); code != ExitOK {
		t.Fatalf("make_sockdfc: exit %d: %s", code, stderr)
	}
	return users, fc
}
