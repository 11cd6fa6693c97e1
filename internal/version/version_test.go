package version

import (
	"strings"
	"testing"
)

func TestDaemonText(t *testing.T) {
	t.Parallel()
	v := DaemonText(false, false)
	if !strings.HasPrefix(v, "\tCSTC multi-homed SOCKS proxy server version 4.3 compatible (sockd ") {
		t.Fatalf("%q", v)
	}
	for _, want := range []string{"SOCKS4, SOCKS4A and SOCKS5", "RBIND", "route file"} {
		if !strings.Contains(v, want) {
			t.Errorf("missing %q", want)
		}
	}
}
