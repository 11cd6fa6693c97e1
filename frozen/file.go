package frozen

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"unsafe"

	"github.com/sockd/sockd/internal/boundedfile"
	"github.com/sockd/sockd/internal/hugepage"
)

// HashSource returns the hex SHA-256 of a text config, the value of
// Meta.SourceSHA256.
func HashSource(src []byte) string {
	sum := sha256.Sum256(src)
	return hex.EncodeToString(sum[:])
}

// ReadFile reads and decodes the frozen file at path, which must be of
// kind want. Every error names the path; errors.Is still finds the
// sentinel (or fs.ErrNotExist and the like for I/O errors).
func ReadFile(path string, want Kind) (*File, error) {
	data, err := ReadFileString(path)
	if err != nil {
		return nil, err // *fs.PathError already names the path
	}
	f, err := DecodeKindString(data, want)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// ReadFileString reads a whole file into a string, as DecodeString wants
// it. The file is read straight into the memory the string then uses, with
// no copy, and that memory is taken in huge pages where the system allows
// (package hugepage): a large frozen file's decoded strings are slices of
// this one, and faulting in fresh memory is a good part of its load time.
// The bytes are never written after the read, which is what makes handing
// them to unsafe.String sound.
//
// The file is opened by boundedfile: it must be a regular file (a FIFO or
// /dev/zero named in its place is refused, not waited on or read without
// end) of at most boundedfile.MaxConfig bytes.
func ReadFileString(path string) (string, error) {
	f, size64, err := boundedfile.Open(path, boundedfile.MaxConfig)
	if err != nil {
		return "", err
	}
	defer f.Close()
	size := int(size64)
	// +1: the read that sees end of file must find room, or the buffer
	// would grow (and be copied) only to learn that nothing is left.
	b := make([]byte, 0, size+1)
	hugepage.Advise(b[:cap(b)])
	for {
		if len(b) > boundedfile.MaxConfig {
			return "", &fs.PathError{Op: "read", Path: path, Err: boundedfile.ErrTooLarge} // it grew since Open
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // the file grew since Open
		}
		n, err := f.Read(b[len(b):min(cap(b), boundedfile.MaxConfig+1)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return unsafe.String(unsafe.SliceData(b), len(b)), nil
		}
		if err != nil {
			return "", err // *fs.PathError names the path
		}
	}
}

// Staleness says whether the text config a frozen file was compiled from
// has changed since. SOCKS 4.3 silently used a stale frozen file; callers
// warn about it instead.
type Staleness struct {
	// TextPath is the text file next to the frozen one: in the frozen
	// file's directory, named like the base of Meta.Source. It is empty
	// when the frozen file does not name a source (compiled from stdin).
	TextPath string
	// Exists reports that TextPath is there.
	Exists bool
	// Stale reports that TextPath exists and its content is not what was
	// compiled (its SHA-256 differs from Meta.SourceSHA256).
	Stale bool
	// Err is set when TextPath exists but could not be read; Stale is
	// then false because nothing is known.
	Err error
}

// CheckStale compares the frozen file f, read from frozenPath, with the
// text file next to it.
func CheckStale(frozenPath string, f *File) Staleness {
	if f == nil || f.Meta.Source == "" || f.Meta.Source == "-" {
		return Staleness{}
	}
	st := Staleness{TextPath: filepath.Join(filepath.Dir(frozenPath), filepath.Base(f.Meta.Source))}
	sum, err := hashFile(st.TextPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return st
	case err != nil:
		st.Exists = true
		st.Err = err
		return st
	}
	st.Exists = true
	st.Stale = sum != f.Meta.SourceSHA256
	return st
}

// hashFile returns HashSource of a file's content, read through a small
// buffer: the text beside a large frozen file is never needed whole.
func hashFile(path string) (string, error) {
	f, _, err := boundedfile.Open(path, boundedfile.MaxConfig)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, make([]byte, 64<<10)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
