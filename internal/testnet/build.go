package testnet

import (
	"os"
	"sync"
	"testing"
)

// Built is what a test binary builds once for all its tests (a library, a
// daemon under another name), in a temporary directory of its own. The
// zero value is ready to use.
type Built struct {
	once sync.Once
	dir  string
	err  error
}

// Dir runs build in a new temporary directory (its name starting with
// prefix) the first time it is called, and returns that directory. A
// build that failed fails every test that asks, with the build's error.
func (b *Built) Dir(t testing.TB, prefix string, build func(dir string) error) string {
	t.Helper()
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", prefix)
		if b.err == nil {
			b.err = build(b.dir)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.dir
}

// Remove deletes the directory if one was made: for TestMain, after the
// tests.
func (b *Built) Remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}
