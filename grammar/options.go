package grammar

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/sockd/sockd/internal/boundedfile"
)

// Options inject the system lookups so tests are hermetic. The zero value
// uses the system's: /etc/services and the file system.
type Options struct {
	// LookupService maps a TCP service name to its port (default:
	// net.LookupPort("tcp", name), which reads /etc/services). Used for
	// `eq telnet`.
	LookupService func(name string) (int, error)
	// CheckUserFile is called for each /absolute user-list file (default:
	// boundedfile.Check: it must open without blocking, be a regular file
	// and not exceed boundedfile.MaxList). An error becomes a diagnostic:
	// "user file ... does not exist" when it wraps fs.ErrNotExist, else
	// "user file ... cannot be used: <error>".
	CheckUserFile func(path string) error
	// ServiceNames lists the TCP service names known, for the "did you
	// mean" hint on an unknown service (default: the names and aliases of
	// /etc/services).
	ServiceNames func() []string
}

func (o Options) withDefaults() Options {
	if o.LookupService == nil {
		o.LookupService = func(name string) (int, error) { return net.LookupPort("tcp", name) }
	}
	if o.CheckUserFile == nil {
		o.CheckUserFile = boundedfile.Check
	}
	if o.ServiceNames == nil {
		o.ServiceNames = systemServiceNames
	}
	return o
}

var (
	systemServicesOnce sync.Once
	systemServices     []string
)

// systemServiceNames reads /etc/services once per process: the names only
// feed hints, so a missing file just means no suggestions.
func systemServiceNames() []string {
	systemServicesOnce.Do(func() {
		f, err := os.Open("/etc/services")
		if err != nil {
			return
		}
		defer f.Close()
		systemServices = readServiceNames(bufio.NewScanner(f))
	})
	return systemServices
}

// readServiceNames collects the TCP names and aliases of an /etc/services
// file ("name port/proto alias... # comment"), sorted and unique.
func readServiceNames(sc *bufio.Scanner) []string {
	var names []string
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasSuffix(f[1], "/tcp") {
			continue
		}
		names = append(names, f[0])
		names = append(names, f[2:]...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// userFileError words a CheckUserFile failure for a diagnostic.
func userFileMessage(path string, err error) string {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("user file %s does not exist", quote(path))
	}
	return fmt.Sprintf("user file %s cannot be used: %v", quote(path), err)
}
