// Package boundedfile opens and reads the files sockd loads (rule, route
// and client configuration files, text or frozen; the user files their
// rules name; password and credentials files) so that no file can hang the
// loader or make it eat memory: a file is opened without blocking (a FIFO
// does not wait for a writer), must be a regular file once symbolic links
// are followed (not a device such as /dev/zero, a FIFO or a directory), and
// may not be larger than a cap. Every error names the file.
//
// The same checks at open time, rather than a stat before a read, also
// hold when a file is replaced between the check and the read (a reload
// after a symlink was swapped).
package boundedfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// The caps. Rule files are the largest: a large site's frozen file holds
// hundreds of thousands of rules in tens of MB.
const (
	// MaxConfig caps rule, route and client configuration files.
	MaxConfig = 256 << 20
	// MaxList caps user files, password files and credentials files.
	MaxList = 16 << 20
)

// ErrNotRegular and ErrTooLarge are wrapped by the errors returned.
var (
	ErrNotRegular = errors.New("not a regular file")
	ErrTooLarge   = errors.New("file too large")
)

// Open opens path for reading and returns it with its size, or an error
// naming the file when it is not a regular file or larger than limit.
func Open(path string, limit int64) (*os.File, int64, error) {
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer. It changes nothing for a regular file, the only kind kept.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(st.Mode()))}
	}
	if st.Size() > limit {
		f.Close()
		return nil, 0, tooLarge(path, limit)
	}
	return f, st.Size(), nil
}

// Read reads the whole file at path, within the checks of Open; a file
// that grows past limit while it is read is refused too.
func Read(path string, limit int64) ([]byte, error) {
	f, size, err := Open(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, 0, size+1)
	for {
		if int64(len(b)) > limit {
			return nil, tooLarge(path, limit)
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := f.Read(b[len(b):min(cap(b), int(limit)+1)])
		b = b[:len(b)+n]
		if err == io.EOF {
			if int64(len(b)) > limit {
				return nil, tooLarge(path, limit)
			}
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// ReadList is Read with the cap of user, password and credentials files.
func ReadList(path string) ([]byte, error) { return Read(path, MaxList) }

// Check reports whether path could be read: it opens it with the checks
// of Open (for MaxList) and closes it again. A file this process may not
// read (the compiler run by another user than the daemon) is judged by
// its metadata alone. Its errors are the bare reasons, without the path,
// for callers that name the file themselves.
func Check(path string) error {
	f, _, err := Open(path, MaxList)
	if errors.Is(err, fs.ErrPermission) {
		st, serr := os.Stat(path) // a stat never waits on a FIFO
		switch {
		case serr != nil:
			return serr
		case !st.Mode().IsRegular():
			return fmt.Errorf("%w (%s)", ErrNotRegular, kind(st.Mode()))
		case st.Size() > MaxList:
			return fmt.Errorf("%w: more than %s, the limit for this kind of file", ErrTooLarge, human(MaxList))
		}
		return nil
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	return f.Close()
}

func tooLarge(path string, limit int64) error {
	return &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: more than %s, the limit for this kind of file", ErrTooLarge, human(limit))}
}

func human(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.String()
}
