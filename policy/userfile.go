package policy

import (
	"fmt"
	"strings"
	"sync"
)

// maxUserFileLine is 4.3's limit on a user file line (a 1024-byte buffer
// holding the newline too). 4.3 silently split longer lines, which could cut
// an id in two; we refuse the file instead.
const maxUserFileLine = 1023

// ParseUserFile returns the ids of a 4.3 user file: ids separated by any mix
// of blanks, tabs and commas, '#' starting a comment to the end of the line,
// lines of at most 1023 characters.
func ParseUserFile(name string, data []byte) ([]string, error) {
	var ids []string
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if len(line) > maxUserFileLine {
			return nil, fmt.Errorf("user file %s:%d: line longer than %d characters", name, n+1, maxUserFileLine)
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		ids = append(ids, strings.FieldsFunc(line, func(r rune) bool {
			return r == ' ' || r == '\t' || r == ','
		})...)
	}
	return ids, nil
}

// userFiles reads each user file once, however many lines name it. It is
// safe for concurrent use, and never calls read concurrently.
type userFiles struct {
	mu    sync.Mutex
	read  func(string) ([]byte, error)
	cache map[string][]string
}

func newUserFiles(read func(string) ([]byte, error)) *userFiles {
	return &userFiles{read: read, cache: map[string][]string{}}
}

func (u *userFiles) load(name string) ([]string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if ids, ok := u.cache[name]; ok {
		return ids, nil
	}
	data, err := u.read(name)
	if err != nil {
		return nil, fmt.Errorf("unable to open userfile (%s): %w", name, err)
	}
	ids, err := ParseUserFile(name, data)
	if err != nil {
		return nil, err
	}
	u.cache[name] = ids
	return ids, nil
}
