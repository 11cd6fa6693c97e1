package policy

import (
	"net/netip"
	"testing"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/grammar"
)

func TestClientDecide(t *testing.T) {
	src := "deny *=mallory 0.0.0.0 0.0.0.0\n" +
		"direct 10.0.0.0 255.0.0.0 lt 1024\n" +
		"sockd @=socks5://10.0.0.1 10.0.0.0 255.0.0.0\n" +
		"sockd .example 0.0.0.0 : echo %u to %z\n"
	conf, diags := grammar.ParseSocks("socks.conf", []byte(src), grammar.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p, err := NewClient(conf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr
	cases := []struct {
		name   string
		req    ClientRequest
		action config.ClientAction
		index  int
	}{
		{"loopback always direct", ClientRequest{DstIP: ip("127.0.0.1"), DstPort: 80, User: "mallory"}, config.ClientDirect, RouteLoopback},
		{"0.0.0.0 always direct", ClientRequest{DstIP: ip("0.0.0.0"), DstPort: 80}, config.ClientDirect, RouteLoopback},
		{"user list", ClientRequest{DstIP: ip("10.1.1.1"), DstPort: 80, User: "mallory"}, config.ClientDeny, 0},
		{"port", ClientRequest{DstIP: ip("10.1.1.1"), DstPort: 80, User: "alice"}, config.ClientDirect, 1},
		{"port fails, next line", ClientRequest{DstIP: ip("10.1.1.1"), DstPort: 8080, User: "alice"}, config.ClientSockd, 2},
		{"name pattern", ClientRequest{DstName: "www.example", DstPort: 443, User: "alice"}, config.ClientSockd, 3},
		{"no line: refused", ClientRequest{DstIP: ip("192.0.2.1"), DstPort: 443, User: "alice"}, config.ClientDeny, RouteDefault},
		{"name only never matches a mask", ClientRequest{DstName: "other.test", DstPort: 443}, config.ClientDeny, RouteDefault},
	}
	for _, c := range cases {
		var rec Recorder
		d := p.Decide(&c.req, &rec)
		if d.Action != c.action || d.Index != c.index {
			t.Errorf("%s: got %v line %d (%s), want %v line %d", c.name, d.Action, d.Index, d.Reason, c.action, c.index)
		}
		if len(rec.Steps) == 0 {
			t.Errorf("%s: no trace", c.name)
		}
	}
	d := p.Decide(&ClientRequest{DstName: "www.example", DstIP: ip("192.0.2.9"), DstPort: 443, User: "alice"}, nil)
	if d.Command != "echo alice to 192.0.2.9" || d.Servers != nil {
		t.Fatalf("command %q servers %v", d.Command, d.Servers)
	}
}
