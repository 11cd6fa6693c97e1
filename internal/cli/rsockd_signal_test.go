package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
)

// TestRsockdSIGUSR1: a real SIGUSR1 to rsockd logs the socks.conf lines
// beside the rules.
func TestRsockdSIGUSR1(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "sockd.conf")
	cc := testnet.File(t, dir, "socks.conf", "direct 127.0.0.0 255.0.0.0\nsockd @=192.0.2.1 ALL\n")
	os.WriteFile(conf, []byte("permit 127.0.0.0 255.0.0.0\n"), 0o600)
	stderr := &testnet.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main("rsockd", []string{"-c", conf, "--client-config", cc, "--listen", "127.0.0.1:0", "--drain-timeout", "5s"},
			strings.NewReader(""), io.Discard, stderr)
	}()
	wait := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(stderr.String(), want) {
			select {
			case code := <-done:
				t.Fatalf("rsockd exited %d: %s", code, stderr.String())
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("log lacks %q:\n%s", want, stderr.String())
			}
		}
	}
	wait("INFO listening")
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	wait("INFO config: permit 127.0.0.0 255.0.0.0")
	wait("INFO effective client configuration file=" + cc)
	wait("INFO client: direct 127.0.0.0 255.0.0.0")
	wait("INFO client: sockd @=192.0.2.1 ALL 0.0.0.0")
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("rsockd did not stop on SIGTERM")
	}
}
