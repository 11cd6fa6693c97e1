package daemon

// The process's own resources: its open file limit and its pid file.

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/sockd/sockd/internal/atomicfile"
)

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit: every
// relayed connection needs two descriptors.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// createPidFile writes the process id to path atomically (package
// atomicfile), so a reader never sees a partial number; the returned
// function removes it.
func createPidFile(path string) (remove func(), err error) {
	if err := atomicfile.WriteFile(path, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
		return nil, err
	}
	return func() {
		// Remove only our own file: another instance may have replaced it.
		if data, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(data)) == fmt.Sprint(os.Getpid()) {
			os.Remove(path)
		}
	}, nil
}
