package logline

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// NewJournal returns a logger for standard error under systemd: each line
// starts with its sd-daemon(3) priority ("<3>" error, "<4>" warning, "<5>"
// the classic event lines, as with --syslog, "<7>" debug), which journald
// turns into the entry's priority, and carries no timestamp, since
// journald stamps every entry itself.
func NewJournal(w io.Writer, level slog.Leveler) *slog.Logger {
	return batched(w, newLineHandler(level, false, func(l slog.Level, line []byte) error {
		p := "<7>"
		switch {
		case l >= slog.LevelError:
			p = "<3>"
		case l >= slog.LevelWarn:
			p = "<4>"
		case l >= slog.LevelInfo:
			p = "<5>"
		}
		_, err := w.Write(append([]byte(p), line...))
		return err
	}))
}

// StderrIsJournal reports whether standard error is connected to journald:
// systemd sets $JOURNAL_STREAM to the device and inode of that stream
// (systemd.exec(5)), and a process whose stderr was redirected elsewhere
// inherits the variable but not the stream.
func StderrIsJournal() bool {
	v := os.Getenv("JOURNAL_STREAM")
	dev, ino, ok := strings.Cut(v, ":")
	if !ok {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(2, &st); err != nil {
		return false
	}
	return dev == strconv.FormatUint(st.Dev, 10) && ino == strconv.FormatUint(st.Ino, 10)
}

// File is a log file that can be reopened, so that logrotate can move it
// away and signal the daemon (SIGHUP) to start a new one. Writes are
// serialised with reopening: a line is never split between two files.
type File struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenFile opens path for appending, creating it (mode 0640) if needed.
func OpenFile(path string) (*File, error) {
	lf := &File{path: path}
	if err := lf.Reopen(); err != nil {
		return nil, err
	}
	return lf, nil
}

// Adopt wraps f, already open on path (a worker's log file, inherited
// from its supervisor), so that it is written and reopened like a File
// that OpenFile opened. Each line is one append, so the lines of several
// processes sharing the file interleave whole.
func Adopt(f *os.File, path string) *File { return &File{path: path, f: f} }

// OpenAppend opens path the way every log file is opened: for appending,
// created with mode 0640 if needed.
func OpenAppend(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
}

// Reopen closes the file and opens path again. If opening fails, the old
// file stays in use and the error is returned.
func (lf *File) Reopen() error {
	f, err := OpenAppend(lf.path)
	if err != nil {
		return fmt.Errorf("cannot open log file: %w", err)
	}
	lf.mu.Lock()
	old := lf.f
	lf.f = f
	lf.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

func (lf *File) Write(p []byte) (int, error) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	return lf.f.Write(p)
}

// Close closes the file.
func (lf *File) Close() error {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	return lf.f.Close()
}

// Path is the file's name.
func (lf *File) Path() string { return lf.path }
