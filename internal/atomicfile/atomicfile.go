// Package atomicfile is the one way the toolchain replaces a file on disk:
// the frozen config files, the pid file and the passwd file all go through
// it, so all of them get the same guarantees.
//
// A reader sees either the old file or the new one, never a mix, and a
// crash never leaves a partial file: the data goes to a temporary file in
// the same directory (a rename is only atomic within one file system),
// which is synced, renamed over the target, and then the directory is
// synced so that the rename itself survives a crash.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// stepHook, when set by a test, runs after each step (create, chmod,
// fill, sync, close, rename, syncdir) with the step's name and the
// directory involved; an error it returns acts as that step's failure.
// Tests use it to make every step fail in turn and to see the directory
// sync happen, without mocking the file system. It is nil in production.
var stepHook func(step, dir string) error

func hook(step, dir string) error {
	if stepHook == nil {
		return nil
	}
	return stepHook(step, dir)
}

// Write replaces the file at path with what fill writes. The file gets
// exactly the mode perm (set on the open file, so the umask does not
// reduce it). If fill or any step before the rename fails, the temporary
// file is removed and an existing file at path is untouched. An error
// syncing the directory after the rename is still returned, although path
// then already holds the new data. If path is a symbolic link, the link
// itself is replaced by the new file, as with any rename-based write.
// Every error names path and wraps the cause (errors.Is finds it).
func Write(path string, perm os.FileMode, fill func(w io.Writer) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err == nil {
		err = hook("create", dir)
	}
	if err != nil {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close() // may already be closed; the error is not interesting then
			os.Remove(tmpName)
		}
	}()
	steps := []struct {
		name string
		run  func() error
	}{
		{"chmod", func() error { return tmp.Chmod(perm) }},
		{"fill", func() error { return fill(tmp) }},
		{"sync", tmp.Sync},
		{"close", tmp.Close},
	}
	for _, s := range steps {
		err := s.run()
		if err == nil {
			err = hook(s.name, dir)
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	// The hook runs before the rename, so that a test can make the rename
	// fail and see that nothing was replaced.
	err = hook("rename", dir)
	if err == nil {
		err = os.Rename(tmpName, path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write %s: renamed into place, but syncing its directory failed: %w", path, err)
	}
	return nil
}

// WriteFile replaces the file at path with data; see Write.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// syncDir makes a rename in dir durable: without it, the new name can be
// lost in a crash although the file's data was synced.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = hook("syncdir", dir)
	}
	return err
}
