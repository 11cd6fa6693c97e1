package testnet

import (
	"os"
	"path/filepath"
	"testing"
)

// File writes content to the file name in dir (a t.TempDir()), readable
// and writable by its owner only, and returns its path. A write that
// fails fails the test.
func File(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
