package cli

import (
	"slices"
	"testing"

	"github.com/sockd/sockd/internal/srelay"
)

// srelay's command line becomes the daemon's flags.
func TestSrelayArgs(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{nil, []string{"--listen", ":1080", "--idle-timeout", "0"}},
		{[]string{"-i", "192.0.2.1", "-i:1234", "-i", "[2001:db8::1]:99", "-i", "[::1]", "-i", "host.example"},
			[]string{"--listen", "192.0.2.1:1080", "--listen", ":1234", "--listen", "[2001:db8::1]:99", "--listen", "[::1]:1080",
				"--listen", "host.example:1080", "--idle-timeout", "0"}},
		{[]string{"-fgtap", "-an", "-o", "5", "-m10", "-c", "s.conf", "-u", "s.passwd", "-p", "pid", "-s", "-b", "-r"},
			[]string{"--same-interface", "--idle-timeout", "5m", "--max-clients", "10", "--credentials", "s.passwd",
				"--pidfile", "pid", "--syslog", "--bind-any-port", "--log-client-names", "--srelay-conf", "s.conf",
				"--listen", ":1080", "--auth", "userpass,none", "--auth-system"}},
		// What a --workers supervisor passes on is kept as it is.
		{[]string{"--listen", "127.0.0.1:0", "--srelay-conf", "x.conf", "--idle-timeout", "1m", "--syslog"},
			[]string{"--listen", "127.0.0.1:0", "--srelay-conf", "x.conf", "--idle-timeout", "1m", "--syslog"}},
	} {
		sc, err := srelay.Translate(tc.in, longTakesValue)
		got, done := sc.Args, sc.Help || sc.Version
		if err != nil || done || !slices.Equal(got, tc.want) {
			t.Errorf("srelay %q:\n got %q %v\nwant %q", tc.in, got, err, tc.want)
		}
	}
}
