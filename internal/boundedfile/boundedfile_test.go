package boundedfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRefusesWhatIsNotABoundedRegularFile: devices, FIFOs (without waiting
// for a writer), directories, links to any of them and files over the cap
// are refused with an error naming the file; a regular file, directly or
// through a link, is read whole.
func TestRefusesWhatIsNotABoundedRegularFile(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "users")
	os.WriteFile(regular, []byte("alice\nbob\n"), 0o600)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := func(name, target string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	zeroLink := link("zero-link", "/dev/zero")
	fifoLink := link("fifo-link", fifo)
	goodLink := link("good-link", regular)

	for _, path := range []string{regular, goodLink} {
		b, err := Read(path, 64)
		if err != nil || string(b) != "alice\nbob\n" {
			t.Errorf("Read(%s) = %q, %v", path, b, err)
		}
		if err := Check(path); err != nil {
			t.Errorf("Check(%s) = %v", path, err)
		}
	}
	for _, tc := range []struct {
		path, want string
		is         error
	}{
		{"/dev/zero", "a character device", ErrNotRegular},
		{zeroLink, "a character device", ErrNotRegular},
		{fifo, "a FIFO", ErrNotRegular},
		{fifoLink, "a FIFO", ErrNotRegular},
		{dir, "a directory", ErrNotRegular},
		{filepath.Join(dir, "missing"), "no such file", os.ErrNotExist},
	} {
		done := make(chan error, 1)
		go func() { _, err := Read(tc.path, MaxList); done <- err }()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Read(%s) has not returned after 10 s", tc.path)
		}
		if err == nil || !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Read(%s) = %v, want an error naming it and saying %q", tc.path, err, tc.want)
		}
		if err := Check(tc.path); err == nil || !errors.Is(err, tc.is) {
			t.Errorf("Check(%s) = %v", tc.path, err)
		}
	}
	_, err := Read(regular, 5)
	if err == nil || !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), regular) || !strings.Contains(err.Error(), "5 bytes") {
		t.Errorf("Read over the cap = %v, want a too-large error naming the file and the cap", err)
	}
	if _, err := Read(regular, 10); err != nil {
		t.Errorf("Read of exactly the cap: %v", err)
	}
}
