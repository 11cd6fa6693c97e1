package testnet

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// WriteFileT writes text to a file called name in a directory of its own
// that goes when the test ends, and returns its path.
func WriteFileT(t testing.TB, name, text string) string {
	t.Helper()
	return WriteFileIn(t, t.TempDir(), name, text)
}

// WriteFileIn writes text to a file called name in dir, beside the other
// files of the test (a t.TempDir()), and returns its path. A write that
// fails fails the test.
func WriteFileIn(t testing.TB, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// SwapFile replaces path with a symbolic link to target, or with a FIFO
// when target is "fifo": what a loader must refuse in a file's place.
func SwapFile(t testing.TB, path, target string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	var err error
	if target == "fifo" {
		err = syscall.Mkfifo(path, 0o600)
	} else {
		err = os.Symlink(target, path)
	}
	if err != nil {
		t.Fatal(err)
	}
}
