package daemon

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestPidFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sockd.pid")
	remove, err := createPidFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file holds %q", b)
	}
	remove()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("pid file not removed")
	}
}

func TestRaiseFileLimit(t *testing.T) {
	n, err := raiseFileLimit()
	if err != nil || n == 0 {
		t.Fatalf("%d %v", n, err)
	}
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if lim.Cur != lim.Max {
		t.Fatalf("soft %d, hard %d", lim.Cur, lim.Max)
	}
}
