package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// dirNames lists a directory, to catch leftover temporary files.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// setHook installs a step hook for one test.
func setHook(t *testing.T, h func(step, dir string) error) {
	t.Helper()
	stepHook = h
	t.Cleanup(func() { stepHook = nil })
}

// TestModeIsExact: the mode asked for is the mode the file gets, whatever
// the umask and whatever mode the replaced file had.
func TestModeIsExact(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	for _, perm := range []os.FileMode{0o644, 0o600, 0o640, 0o755} {
		data := []byte("contents for " + perm.String())
		if err := WriteFile(path, data, perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != string(data) {
			t.Fatalf("read back %q, %v", got, err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != perm {
			t.Errorf("mode %v, want %v", st.Mode().Perm(), perm)
		}
		if names := dirNames(t, dir); !slices.Equal(names, []string{"f"}) {
			t.Errorf("directory holds %v", names)
		}
	}
}

// TestFillFailsMidway: a writer that fails after writing part of the
// data leaves neither a partial file nor a temporary one, and the old
// file as it was.
func TestFillFailsMidway(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pid")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk on fire")
	err := Write(path, 0o600, func(w io.Writer) error {
		if _, err := io.WriteString(w, "half of the new "); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v: want the writer's failure, naming %s", err, path)
	}
	if got, _ := os.ReadFile(path); string(got) != "old\n" {
		t.Errorf("old file changed to %q", got)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"pid"}) {
		t.Errorf("directory holds %v", names)
	}

	// The same with no file there before: nothing at all is left.
	fresh := filepath.Join(dir, "fresh")
	if err := Write(fresh, 0o600, func(w io.Writer) error { w.Write([]byte("x")); return boom }); !errors.Is(err, boom) {
		t.Fatalf("error %v", err)
	}
	if _, err := os.Lstat(fresh); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a partial file was left: %v", err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"pid"}) {
		t.Errorf("directory holds %v", names)
	}
}

// TestDirectoryIsSynced: after the rename, the directory holding the file
// is synced (the step only runs once the real fsync succeeded).
func TestDirectoryIsSynced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "passwd")
	var steps []string
	setHook(t, func(step, d string) error {
		if filepath.Clean(d) != dir {
			t.Errorf("step %s in %s, want %s", step, d, dir)
		}
		steps = append(steps, step)
		return nil
	})
	if err := WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{"create", "chmod", "fill", "sync", "close", "rename", "syncdir"}
	if !slices.Equal(steps, want) {
		t.Errorf("steps %v, want %v", steps, want)
	}
}

// TestEveryStepFails makes each step fail in turn: the old file must stay
// as it was and no temporary file may remain.
func TestEveryStepFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sockd.fc")
	old := []byte("the old, good file")
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("injected failure")
	for _, step := range []string{"create", "chmod", "fill", "sync", "close", "rename"} {
		t.Run(step, func(t *testing.T) {
			setHook(t, func(s, _ string) error {
				if s == step {
					return boom
				}
				return nil
			})
			err := WriteFile(path, []byte("the new file"), 0o600)
			if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v: want the injected failure, naming %s", err, path)
			}
			if got, _ := os.ReadFile(path); string(got) != string(old) {
				t.Errorf("old file changed to %q", got)
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
				t.Errorf("old file's mode changed to %v", st.Mode().Perm())
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"sockd.fc"}) {
				t.Errorf("directory holds %v", names)
			}
		})
	}

	// A failure after the rename is reported, but the new file is in place.
	setHook(t, func(s, _ string) error {
		if s == "syncdir" {
			return boom
		}
		return nil
	})
	if err := WriteFile(path, []byte("new"), 0o600); !errors.Is(err, boom) {
		t.Errorf("directory sync failure not reported: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "new" {
		t.Errorf("after the rename the file holds %q", got)
	}
}

func TestRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := WriteFile("sockd.fr", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile("sockd.fr"); err != nil || string(got) != "x" {
		t.Fatalf("read back %q, %v", got, err)
	}
}

// TestRealFailures uses failures the OS produces: a missing directory, and
// a path that is a non-empty directory (the rename fails after the
// temporary file was written).
func TestRealFailures(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "missing", "sockd.fc"), []byte("x"), 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
	target := filepath.Join(dir, "sockd.fc")
	if err := os.MkdirAll(filepath.Join(target, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(target, []byte("x"), 0o600)
	if err == nil || !strings.Contains(err.Error(), target) {
		t.Fatalf("writing over a directory: %v", err)
	}
	if st, err := os.Stat(filepath.Join(target, "inside")); err != nil || !st.IsDir() {
		t.Errorf("the directory was disturbed: %v", err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"sockd.fc"}) {
		t.Errorf("directory holds %v", names)
	}
}
