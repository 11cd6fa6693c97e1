package grammar

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"slices"

	"github.com/sockd/sockd/internal/diag"
)

// testServices is the hermetic /etc/services of the tests.
var testServices = map[string]int{
	"domain": 53, "finger": 79, "ftp": 21, "http": 80, "https": 443, "login": 513,
	"nntp": 119, "shell": 514, "smtp": 25, "socks": 1080, "ssh": 22, "telnet": 23,
}

// testUserFiles are the user files that exist in the tests' world.
var testUserFiles = map[string]bool{
	"/etc/socks.users": true, "/etc/u": true, "/etc/staff": true, "/etc/admins": true,
}

func testOptions() Options {
	return Options{
		LookupService: func(name string) (int, error) {
			if p, ok := testServices[name]; ok {
				return p, nil
			}
			return 0, errors.New("unknown port")
		},
		CheckUserFile: func(path string) error {
			if path == "/etc" {
				return errors.New("not a regular file")
			}
			if !testUserFiles[path] {
				return &fs.PathError{Op: "stat", Path: path, Err: fs.ErrNotExist}
			}
			return nil
		},
		ServiceNames: func() []string { return slices.Sorted(maps.Keys(testServices)) },
	}
}

// diagText renders diagnostics for a failure message; nil when there are none.
func diagText(d diag.List) []byte {
	if len(d) == 0 {
		return nil
	}
	var b bytes.Buffer
	d.WriteText(&b)
	return b.Bytes()
}
