package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockd/sockd/internal/testnet"
)

// TestDefaultRouteFile: without --route the daemon reads /etc/sockd.fr,
// then /etc/sockd.route, as 4.3 did (the lookup's paths are moved into a
// temporary directory).
func TestDefaultRouteFile(t *testing.T) {
	dir := t.TempDir()
	fr, route := filepath.Join(dir, "sockd.fr"), filepath.Join(dir, "sockd.route")
	newWith := func() *testnet.Buffer {
		t.Helper()
		logs := &testnet.Buffer{}
		_, err := New(Options{ConfigPath: writeFile(t, "sockd.conf", permitLoopback), Logger: newTestLogger(logs),
			routeDefaults: []string{fr, route}})
		if err != nil {
			t.Fatal(err)
		}
		return logs
	}
	if logs := newWith(); strings.Contains(logs.String(), "routes loaded") {
		t.Fatalf("no route file exists, yet:\n%s", logs)
	}
	writeRouteFile(t, route, "127.0.0.1 127.0.0.0 255.0.0.0\n")
	contains(t, newWith(), "routes loaded file="+route)
	// The frozen name is looked for first; a text file under it is read by its content.
	writeRouteFile(t, fr, "127.0.0.1 0.0.0.0 0.0.0.0\n")
	contains(t, newWith(), "routes loaded file="+fr)
}

func writeRouteFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
