package daemon

import (
	"net"
	"testing"
)

// TestMetricsBeyondLoopbackWarns: the daemon warns when the metrics
// endpoint listens where other hosts can reach it (issue 18, defect 12).
func TestMetricsBeyondLoopbackWarns(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9100": false, "[::1]:9100": false, "127.3.4.5:1": false,
		"0.0.0.0:9100": true, "[::]:9100": true, "192.0.2.7:9100": true,
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := beyondLoopback(a); got != want {
			t.Errorf("beyondLoopback(%s) = %v, want %v", addr, got, want)
		}
	}
}
