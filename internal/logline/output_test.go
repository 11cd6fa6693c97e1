package logline

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestJournalPriorities(t *testing.T) {
	var b bytes.Buffer
	log := NewJournal(&b, slog.LevelDebug)
	log.Error("e")
	log.Warn("w")
	log.Info("refused -- x\nforged")
	log.Debug("d")
	want := "<3>ERROR e\n<4>WARN w\n<5>INFO refused -- x\\nforged\n<7>DEBUG d\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
}

func TestStderrIsJournal(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	if StderrIsJournal() {
		t.Error("empty JOURNAL_STREAM taken for the journal")
	}
	t.Setenv("JOURNAL_STREAM", "1:2")
	if StderrIsJournal() {
		t.Error("another stream taken for the journal")
	}
}

// TestFileReopen: after the file is moved away (logrotate), Reopen starts a
// new file at the path and the old one keeps what was written before.
func TestFileReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sockd.log")
	lf, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	log := New(lf, FormatText, slog.LevelInfo)
	log.Info("before")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	log.Info("still old")
	if err := lf.Reopen(); err != nil {
		t.Fatal(err)
	}
	log.Info("after")
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), "before") || !strings.Contains(string(old), "still old") || strings.Contains(string(old), "after") {
		t.Errorf("rotated file: %q", old)
	}
	if !strings.Contains(string(cur), "after") || strings.Contains(string(cur), "before") {
		t.Errorf("new file: %q", cur)
	}
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	os.Rename(path, path+".2")
	if os.Geteuid() != 0 {
		if err := lf.Reopen(); err == nil {
			t.Error("reopen in a read-only directory succeeded")
		}
		log.Info("kept")
		if b, _ := os.ReadFile(path + ".2"); !strings.Contains(string(b), "kept") {
			t.Error("a failed reopen lost the old file")
		}
	}
}
