package frozen

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockd/sockd/internal/atomicfile"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sockd.fr")
	if err := atomicfile.WriteFile(path, mustEncode(t, sampleRoutes()), 0o644); err != nil {
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
