package client_test

import (
	"net"
	"testing"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

// TestReplyCodeMatchesServer: for a direct connection's network error the
// client answers what the server answers (socks.V5ReplyFor); they used to
// map a timeout differently (0x06 here, 0x04 in the server).
func TestReplyCodeMatchesServer(t *testing.T) {
	timeout, refused := testnet.DeadlineErr(t), testnet.RefusedErr(t)
	for _, tc := range []struct {
		name string
		err  error
		want socks.V5ReplyCode
	}{
		{"timeout", timeout, socks.V5HostUnreachable},
		{"refused", refused, socks.V5ConnectionRefused},
		{"dns", &net.DNSError{Err: "no such host", Name: "broken.test", IsNotFound: true}, socks.V5HostUnreachable},
	} {
		got, server := client.ReplyCode(tc.err), socks.V5ReplyFor(tc.err)
		if got != tc.want || got != server {
			t.Errorf("%s (%v): client %v, server %v, want %v", tc.name, tc.err, got, server, tc.want)
		}
	}
}
