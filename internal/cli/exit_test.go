package cli

import (
	"path/filepath"
	"testing"

	"github.com/sockd/sockd/internal/testnet"
)

// TestExitStatuses pins the documented statuses: 0 success, 1 invalid input
// (or refused), 2 usage mistakes.
func TestExitStatuses(t *testing.T) {
	dir := t.TempDir()
	good := testnet.WriteFileIn(t, dir, "good.conf", "permit 127.0.0.0/8\ndeny 0.0.0.0 0.0.0.0\n")
	bad := testnet.WriteFileIn(t, dir, "bad.conf", "permit 10.0.0.0 255.0.0.0 eq\n")
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"make_sockdfc", []string{good, filepath.Join(dir, "good.fc")}, 0},
		{"make_sockdfc", []string{bad, filepath.Join(dir, "bad.fc")}, 1},
		{"make_sockdfc", []string{"a", "b", "c"}, 2},
		{"make_sockdfc", []string{"--no-such-flag"}, 2},
		{"dump_sockdfc", []string{filepath.Join(dir, "good.fc")}, 0},
		{"dump_sockdfc", []string{good}, 1}, // text, not frozen
		{"dump_sockdfc", []string{"x", "y"}, 2},
		{"sockd", []string{"simulate", "-c", good, "--from", "127.0.0.1", "--to", "192.0.2.1", "--port", "80"}, 0},
		{"sockd", []string{"simulate", "-c", good, "--from", "10.0.0.1", "--to", "192.0.2.1", "--port", "80"}, 1},
		{"sockd", []string{"simulate", "-c", good, "--from", "10.0.0.1"}, 2},
		{"sockd", []string{"simulate", "-c", bad, "--from", "10.0.0.1", "--to", "192.0.2.1", "--port", "80"}, 2},
		{"sockd", []string{"simulate", "stray", "-c", good}, 2},
		{"sockd", []string{"lint", "-c", good}, 0},
		{"sockd", []string{"-ver"}, 1}, // as 4.3
		{"no_such_tool", nil, 2},
	}
	for _, tc := range tests {
		if code, _, stderr := runTool(t, tc.name, "", tc.args...); code != tc.want {
			t.Errorf("%s %q: exit %d, want %d; stderr: %s", tc.name, tc.args, code, tc.want, stderr)
		}
	}
}
