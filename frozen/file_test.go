package frozen

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sockd.fc")
	for _, perm := range []os.FileMode{0o640, 0o600, 0o644} {
		data := []byte("contents for " + perm.String())
		if err := WriteFileAtomic(path, data, perm); err != nil {
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
		if names := dirNames(t, dir); !slices.Equal(names, []string{"sockd.fc"}) {
			t.Errorf("directory holds %v", names)
		}
	}
}

func TestWriteFileAtomicRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := WriteFileAtomic("sockd.fr", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile("sockd.fr"); err != nil || string(got) != "x" {
		t.Fatalf("read back %q, %v", got, err)
	}
}

// TestWriteFileAtomicFailures makes each step fail in turn: the old file
// must stay as it was and no temporary file may remain.
func TestWriteFileAtomicFailures(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sockd.fc")
	old := []byte("the old, good file")
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("injected failure")
	for _, step := range []string{"chmod", "write", "sync", "close", "rename"} {
		t.Run(step, func(t *testing.T) {
			atomicSteps = func(s string) error {
				if s == step {
					return boom
				}
				return nil
			}
			defer func() { atomicSteps = nil }()
			err := WriteFileAtomic(path, []byte("the new file"), 0o600)
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
	atomicSteps = func(s string) error {
		if s == "syncdir" {
			return boom
		}
		return nil
	}
	defer func() { atomicSteps = nil }()
	if err := WriteFileAtomic(path, []byte("new"), 0o600); !errors.Is(err, boom) {
		t.Errorf("directory sync failure not reported: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "new" {
		t.Errorf("after the rename the file holds %q", got)
	}
}

// TestWriteFileAtomicRealFailures uses failures the OS produces: a missing
// directory, and a path that is a non-empty directory (the rename fails
// after the temporary file was written).
func TestWriteFileAtomicRealFailures(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "sockd.fc"), []byte("x"), 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
	target := filepath.Join(dir, "sockd.fc")
	if err := os.MkdirAll(filepath.Join(target, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := WriteFileAtomic(target, []byte("x"), 0o600)
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

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sockd.fr")
	if err := WriteFileAtomic(path, mustEncode(t, sampleRoutes()), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path, KindSockdFR)
	if err != nil || f.Kind != KindSockdFR || len(f.Route.Routes) != 4 {
		t.Fatalf("ReadFile: %+v, %v", f, err)
	}
	_, err = ReadFile(path, KindSockdFC)
	want := path + ": this is a sockd.fr route file, not a sockd.fc rule file"
	if err == nil || err.Error() != want || !errors.Is(err, ErrWrongKind) {
		t.Errorf("wrong kind: %v, want %q", err, want)
	}
	text := filepath.Join(dir, "sockd.conf")
	if err := os.WriteFile(text, []byte("permit 0.0.0.0 0.0.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(text, KindSockdFC); !errors.Is(err, ErrNotFrozen) || !strings.HasPrefix(err.Error(), text+": ") {
		t.Errorf("text file: %v", err)
	}
	missing := filepath.Join(dir, "nope.fc")
	if _, err := ReadFile(missing, KindSockdFC); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
}

func TestCheckStale(t *testing.T) {
	dir := t.TempDir()
	text := []byte("permit 10.0.0.0 255.0.0.0\n")
	f := &File{Kind: KindSockdFC, Meta: Meta{Source: "/somewhere/else/sockd.conf", SourceSHA256: HashSource(text)}}
	frozenPath := filepath.Join(dir, "sockd.fc")
	textPath := filepath.Join(dir, "sockd.conf")

	if got := CheckStale(frozenPath, f); got != (Staleness{TextPath: textPath}) {
		t.Errorf("missing text file: %+v", got)
	}
	if err := os.WriteFile(textPath, text, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := CheckStale(frozenPath, f); got != (Staleness{TextPath: textPath, Exists: true}) {
		t.Errorf("fresh: %+v", got)
	}
	if err := os.WriteFile(textPath, append(text, "deny 0.0.0.0 0.0.0.0\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := CheckStale(frozenPath, f); got != (Staleness{TextPath: textPath, Exists: true, Stale: true}) {
		t.Errorf("stale: %+v", got)
	}
	if got := CheckStale(frozenPath, &File{Kind: KindSockdFC}); got != (Staleness{}) {
		t.Errorf("no source: %+v", got)
	}
	// A text "file" that cannot be read is reported, not called fresh.
	if err := os.Remove(textPath); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(textPath, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := CheckStale(frozenPath, f); !got.Exists || got.Stale || got.Err == nil {
		t.Errorf("unreadable: %+v", got)
	}
}

func TestHashSource(t *testing.T) {
	// SHA-256 of the empty string, from FIPS 180-2 test vectors.
	if got := HashSource(nil); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("HashSource(nil) = %s", got)
	}
}

// ReadFileString returns exactly the file's bytes, for an empty file, a
// small one, and one large enough for huge pages; a missing file is an
// error naming it.
func TestReadFileStringReadsExactly(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, 5<<20+7)
	for i := range big {
		big[i] = byte(i*31 + i>>13)
	}
	for name, content := range map[string][]byte{"empty": nil, "small": []byte("permit 0.0.0.0 0.0.0.0\n"), "big": big} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFileString(p)
		if err != nil || got != string(content) {
			t.Errorf("%s: got %d bytes, err %v; want the file's %d bytes", name, len(got), err, len(content))
		}
	}
	missing := filepath.Join(dir, "missing")
	if _, err := ReadFileString(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v, want a not-exist error naming it", err)
	}
}
