package rulecmd

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/testnet"
)

func contains(t *testing.T, logs *testnet.Buffer, want string) {
	t.Helper()
	if !testnet.Eventually(20*time.Second, 10*time.Millisecond, func() bool { return strings.Contains(logs.String(), want) }) {
		t.Fatalf("log lacks %q:\n%s", want, logs.String())
	}
}

// TestCommandRunnerBounded: excess commands are dropped and logged, never
// queued; a command past its timeout is killed.
func TestCommandRunnerBounded(t *testing.T) {
	t.Parallel()
	logs := &testnet.Buffer{}
	r := New(1, 200*time.Millisecond, logline.New(logs, logline.FormatText, slog.LevelDebug))
	finished := make(chan struct{}, 2)
	r.Run([]string{"sleep 30"}, func() { finished <- struct{}{} })
	r.Run([]string{"true"}, func() { finished <- struct{}{} })
	<-finished // the dropped one returns at once
	contains(t, logs, "shell command dropped")
	select {
	case <-finished:
	case <-time.After(20 * time.Second):
		t.Fatal("sleep 30 was not killed at its timeout")
	}
	contains(t, logs, "shell command killed after timeout")
}

// TestRunInOrder: a job's commands run one after the other, in order, and
// a failing one is logged without stopping the next.
func TestRunInOrder(t *testing.T) {
	t.Parallel()
	logs := &testnet.Buffer{}
	out := filepath.Join(t.TempDir(), "ran")
	r := New(4, 20*time.Second, logline.New(logs, logline.FormatText, slog.LevelDebug))
	done := make(chan struct{})
	r.Run([]string{"echo one >>" + out, "exit 3", "echo two >>" + out}, func() { close(done) })
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the job did not end")
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "one\ntwo\n" {
		t.Fatalf("ran %q (%v), want one then two", b, err)
	}
	contains(t, logs, "shell command failed")
}
