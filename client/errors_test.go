package client_test

import (
	"net"
	"testing"
	"time"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/socks"
)

// TestReplyCodeMatchesServer: for a direct connection's network error the
// client answers what the server answers (socks.V5ReplyFor); they used to
// map a timeout differently (0x06 here, 0x04 in the server).
func TestReplyCodeMatchesServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(-time.Second))
	_, timeout := c.Read(make([]byte, 1))

	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln2.Addr().String()
	ln2.Close()
	_, refused := net.Dial("tcp", closed)

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
