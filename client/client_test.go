package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

func TestParseUpstream(t *testing.T) {
	cases := []struct {
		in, want, user, pass string
		bad                  bool
	}{
		{in: "proxy.example", want: "socks4://proxy.example:1080"},
		{in: "10.0.0.1:1081", want: "socks4://10.0.0.1:1081"},
		{in: "[::1]", want: "socks4://[::1]:1080"},
		{in: "socks5h://u:p%20w@h:1", want: "socks5h://h:1", user: "u", pass: "p w"},
		{in: "SOCKS://h", want: "socks5://h:1080"},
		{in: "http://[2001:db8::1]", want: "http://[2001:db8::1]:8080"},
		{in: "ftp://h", bad: true},
		{in: "socks5://h:0", bad: true},
		{in: "socks5://h:99999", bad: true},
		{in: "socks5://h/path", bad: true},
		{in: "", bad: true},
	}
	for _, c := range cases {
		u, err := client.ParseUpstream(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%q: parsed as %v, want an error", c.in, u)
			}
			continue
		}
		if err != nil || u.String() != c.want || u.User != c.user || u.Password != c.pass {
			t.Errorf("%q: got %v %q %q %v, want %s %q %q", c.in, u, u.User, u.Password, err, c.want, c.user, c.pass)
		}
	}
}

func TestCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "creds")
	os.WriteFile(p, []byte("127.0.0.1:1080 bob\n"), 0o644)
	if _, err := client.LoadCredentials(p); err == nil || !strings.Contains(err.Error(), "every user") {
		t.Fatalf("a world-readable credentials file was accepted: %v", err)
	}
	os.Chmod(p, 0o600)
	c, err := client.LoadCredentials(p)
	if err != nil {
		t.Fatal(err)
	}
	if u := c.Apply(client.Upstream{Scheme: "socks4", Host: "127.0.0.1", Port: 1080}); u.User != "bob" {
		t.Fatalf("host:port entry not applied: %+v", u)
	}
	if u := c.Apply(client.Upstream{Scheme: "socks4", Host: "127.0.0.1", Port: 1081}); u.User != "" {
		t.Fatalf("entry applied to another port: %+v", u)
	}
	for _, bad := range []string{"onlyone\n", "socks9://h:1 u p\n", "host u p\n"} {
		if _, err := client.ParseCredentials("c", []byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// fakeUpstream answers one connection with script (after reading what the
// client sends first) and records what it read.
func fakeUpstream(t *testing.T, reply func(c net.Conn)) string {
	t.Helper()
	return testnet.AcceptOnceT(t, "127.0.0.1:0", 20*time.Second, func(c net.Conn) {
		reply(c)
		io.Copy(io.Discard, c)
	})
}

// TestRepliesReadExactly: bytes the destination sends right behind the
// reply (an SSH banner) stay in the connection, for SOCKS5 and HTTP.
func TestRepliesReadExactly(t *testing.T) {
	const banner = "SSH-2.0-Test\r\n"
	s5 := fakeUpstream(t, func(c net.Conn) {
		rd := socks.NewReader(c, make([]byte, 600))
		if _, err := rd.ReadV5Greeting(); err != nil {
			return
		}
		c.Write(socks.AppendV5MethodChoice(nil, socks.MethodNoAuth))
		if _, err := rd.ReadV5Request(); err != nil {
			return
		}
		rep, _ := socks.AppendV5Reply(nil, socks.V5Reply{Code: socks.V5Succeeded, Bound: socks.Addr{Name: "relay.example", Port: 7}})
		c.Write(append(rep, banner...)) // one segment: reply and banner
	})
	h := fakeUpstream(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		n := 0
		for !strings.Contains(string(buf[:n]), "\r\n\r\n") {
			m, err := c.Read(buf[n:])
			if err != nil {
				return
			}
			n += m
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nX-A: b\r\n\r\n"+banner)
	})
	for _, url := range []string{"socks5h://" + s5, "http://" + h} {
		p, err := client.NewProxyDialer(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.Dial("tcp", "dest.example:22")
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		got := make([]byte, len(banner))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != banner {
			t.Fatalf("%s: first bytes %q, %v", url, got, err)
		}
		if _, ok := c.(*client.Conn).Conn.(*net.TCPConn); !ok {
			t.Fatalf("%s: the connection is wrapped (%T): a relay could not splice it", url, c.(*client.Conn).Conn)
		}
		c.Close()
	}
}

// TestHTTPFailureCodes: an HTTP upstream's status becomes the SOCKS5 reply.
func TestHTTPFailureCodes(t *testing.T) {
	for status, want := range map[string]socks.V5ReplyCode{
		"403 Forbidden": socks.V5NotAllowed, "502 Bad Gateway": socks.V5HostUnreachable,
		"504 Gateway Timeout": socks.V5TTLExpired, "500 Oops": socks.V5GeneralFailure,
	} {
		h := fakeUpstream(t, func(c net.Conn) {
			buf := make([]byte, 4096)
			c.Read(buf)
			io.WriteString(c, "HTTP/1.1 "+status+"\r\n\r\n")
		})
		p, _ := client.NewProxyDialer("http://"+h, nil)
		_, err := p.Dial("tcp", "10.0.0.1:80")
		var ue *client.Error
		if !errors.As(err, &ue) || client.ReplyCode(err) != want || !strings.Contains(err.Error(), "http://"+h) {
			t.Errorf("%s: %v (code %v), want %v", status, err, client.ReplyCode(err), want)
		}
	}
}

// TestChainLoop: a server is reached directly when its line would route it
// through itself (4.3's "sockd @=proxy 0.0.0.0 0.0.0.0"), and two servers
// routed through each other do not recurse for ever.
func TestChainLoop(t *testing.T) {
	p := filepath.Join(t.TempDir(), "socks.conf")
	os.WriteFile(p, []byte("sockd @=socks5://10.0.0.1 0.0.0.0 0.0.0.0\n"), 0o600)
	self, err := client.LoadRules(p)
	if err != nil {
		t.Fatal(err)
	}
	sd := &client.Dialer{Rules: self}
	r := sd.Plan(context.Background(), policy.CmdConnect, client.Target{IP: netip.MustParseAddr("10.9.9.9"), Port: 80}, false)
	if c := r.Chains(); len(c) != 1 || len(c[0]) != 1 || c[0][0].String() != "socks5://10.0.0.1:1080" {
		t.Fatalf("self-routed server: chains %v", c)
	}
	os.WriteFile(p, []byte("sockd @=socks5://10.0.0.2 10.0.0.1 255.255.255.255\nsockd @=socks5://10.0.0.1 0.0.0.0 0.0.0.0\n"), 0o600)
	rules, err := client.LoadRules(p)
	if err != nil {
		t.Fatal(err)
	}
	d := &client.Dialer{Rules: rules}
	r = d.Plan(context.Background(), policy.CmdConnect, client.Target{IP: netip.MustParseAddr("10.9.9.9"), Port: 80}, false)
	// 10.9.9.9 via 10.0.0.1, reached via 10.0.0.2, which line 2 would
	// send back through 10.0.0.1: reached directly instead.
	if c := r.Chains(); len(c) != 1 || len(c[0]) != 2 || c[0][0].String() != "socks5://10.0.0.2:1080" {
		t.Fatalf("mutual servers: chains %v", c)
	}
}
