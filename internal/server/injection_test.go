package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/auth"
	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
	"golang.org/x/crypto/bcrypt"
)

// payloads builds client strings that would run `touch DIR/pwnedN` if any
// of them reached a shell as code, and that carry newlines and terminal
// escapes for the logs.
func payloads(dir string) []string {
	p := filepath.Join(dir, "pwned")
	return []string{
		"a;touch " + p + "1;#",
		"$(touch " + p + "2)",
		"`touch " + p + "3`",
		"x|touch${IFS}" + p + "4",
		"'\";touch " + p + "5;'\"",
		"x\ntouch " + p + "6\n",
		"x&&touch " + p + "7",
		"\x1b]0;title\x07\x1b[31mred\nINFO connected -- forged",
	}
}

// safeOutput is what echo prints of sanitised expansions.
var safeOutput = regexp.MustCompile(`^user=[0-9A-Za-z!@%_=+:,./-]* host=[0-9A-Za-z!@%_=+:,./-]*$`)

// TestShellInjection: a USERID, a SOCKS4a or SOCKS5 host name and a SOCKS5
// user name holding shell code reach the rule's command as inert text.
func TestShellInjection(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	// The admin's command uses every client-controlled expansion.
	conf := "deny 0.0.0.0 0.0.0.0 : echo user=%u host=%z >>" + out + "\n"
	var users []string
	for i, p := range payloads(dir) {
		if auth.ValidUser(p) == nil {
			users = append(users, p)
		} else {
			// A password file cannot hold blanks or control bytes; the
			// rest of the payload still goes in.
			users = append(users, strings.Map(func(r rune) rune {
				if r <= ' ' || r == 0x7f || r == ':' || r == '#' {
					return '-'
				}
				return r
			}, p)+string(rune('a'+i)))
		}
	}
	pw := filepath.Join(dir, "passwd")
	for _, u := range users {
		if err := auth.SetPassword(pw, u, "pw", bcrypt.MinCost); err != nil {
			t.Fatalf("user %q: %v", u, err)
		}
	}
	dns := startFakeDNS(t, dnsNXDomain)
	srv := startServer(t, conf, func(o *Options) {
		o.Resolver = dns.resolver()
		o.PasswdPath = pw
		o.Methods = []socks.Method{socks.MethodUserPass, socks.MethodNoAuth}
		o.MaxCommands = 100 // none dropped: the test counts them
	})
	runs := 0
	for _, p := range payloads(dir) {
		// USERID, and a SOCKS4a name.
		c := v4Open(t, srv, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, "127.0.0.1:80")), UserID: p})
		readV4Reply(t, c)
		c = v4Open(t, srv, socks.V4Request{Command: socks.V4Connect, Dst: socks.Addr{Name: p, Port: 80}, UserID: "u"})
		readV4Reply(t, c)
		// A SOCKS5 name, without authentication.
		c = dialProxy(t, srv.addr)
		g, _ := socks.AppendV5Greeting(nil, socks.V5Greeting{Methods: []socks.Method{socks.MethodNoAuth}})
		mustWrite(t, c, g)
		io.ReadFull(c, make([]byte, 2))
		v5Send(t, c, socks.V5Request{Command: socks.V5Connect, Dst: socks.Addr{Name: p, Port: 80}})
		readV5Reply(t, c)
		runs += 3
	}
	for _, u := range users { // SOCKS5 user names, authenticated
		c := dialProxy(t, srv.addr)
		g, _ := socks.AppendV5Greeting(nil, socks.V5Greeting{Methods: []socks.Method{socks.MethodUserPass}})
		mustWrite(t, c, g)
		io.ReadFull(c, make([]byte, 2))
		up, _ := socks.AppendUserPass(nil, socks.UserPass{Username: u, Password: "pw"})
		mustWrite(t, c, up)
		var st [2]byte
		if _, err := io.ReadFull(c, st[:]); err != nil || st[1] != 0 {
			t.Fatalf("user %q: authentication status % x %v", u, st, err)
		}
		v5Send(t, c, socks.V5Request{Command: socks.V5Connect, Dst: socks.AddrFromAddrPort(ap(t, "127.0.0.1:80"))})
		readV5Reply(t, c)
		runs++
	}
	pwned := func() string {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "pwned") {
				return e.Name()
			}
		}
		return ""
	}
	waitFor(t, "every command", func() bool {
		b, _ := os.ReadFile(out)
		return bytes.Count(b, []byte("\n")) >= runs || pwned() != ""
	})
	b, _ := os.ReadFile(out)
	if p := pwned(); p != "" {
		t.Fatalf("client input ran as shell code: %s exists\ncommand output:\n%s", p, b)
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if !safeOutput.MatchString(line) {
			t.Errorf("command output holds more than the safe characters: %q", line)
		}
	}
	if n := bytes.Count(b, []byte("\n")); n != runs {
		t.Fatalf("%d command runs, want %d", n, runs)
	}
}

// TestLogInjectionEverywhere: user ids, SOCKS5 user names (failed logins
// too) and host names with newlines and terminal escapes yield exactly one
// escaped line each, in text and in JSON.
func TestLogInjectionEverywhere(t *testing.T) {
	t.Parallel()
	const evil = "evil\nINFO connected -- forged\r\x1b[2J\x1b]0;t\x07\u2028x"
	for _, format := range []logline.Format{logline.FormatText, logline.FormatJSON} {
		logs := &testnet.Buffer{}
		pw := filepath.Join(t.TempDir(), "passwd")
		if err := auth.SetPassword(pw, "alice", "pw", bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
		dns := startFakeDNS(t, dnsNXDomain)
		srv := startServer(t, "deny 0.0.0.0 0.0.0.0\n", func(o *Options) {
			o.Logger = logline.New(logs, format, slog.LevelDebug)
			o.Resolver = dns.resolver()
			o.PasswdPath = pw
			o.Methods = []socks.Method{socks.MethodUserPass, socks.MethodNoAuth}
		})
		c := v4Open(t, srv, socks.V4Request{Command: socks.V4Connect, Dst: socks.Addr{Name: evil, Port: 80}, UserID: evil})
		readV4Reply(t, c)
		c = dialProxy(t, srv.addr)
		g, _ := socks.AppendV5Greeting(nil, socks.V5Greeting{Methods: []socks.Method{socks.MethodUserPass}})
		up, _ := socks.AppendUserPass(nil, socks.UserPass{Username: evil, Password: "x"})
		mustWrite(t, c, append(g, up...))
		readUntilClosed(t, c, 20*time.Second)
		c = dialProxy(t, srv.addr)
		g, _ = socks.AppendV5Greeting(nil, socks.V5Greeting{Methods: []socks.Method{socks.MethodNoAuth}})
		mustWrite(t, c, g)
		io.ReadFull(c, make([]byte, 2))
		v5Send(t, c, socks.V5Request{Command: socks.V5Connect, Dst: socks.Addr{Name: evil, Port: 80}})
		readV5Reply(t, c)
		contains(t, logs, "authentication failed")
		waitFor(t, "three refusals", func() bool { return strings.Count(logs.String(), "refused -- ") >= 3 })
		waitFor(t, "sessions to end", func() bool { return srv.Active() == 0 })

		text := logs.String()
		if strings.ContainsAny(text, "\r\x1b\x07\u2028") {
			t.Fatalf("%v: raw control characters in the log:\n%q", format, text)
		}
		for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			if strings.Contains(line, "forged") && !strings.Contains(line, "evil") {
				t.Fatalf("%v: a forged line: %q", format, line)
			}
			if format == logline.FormatJSON && !json.Valid([]byte(line)) {
				t.Fatalf("not one JSON object: %q", line)
			}
			if format == logline.FormatText && strings.HasPrefix(line, "INFO connected") {
				t.Fatalf("forged line: %q", line)
			}
		}
		if n := strings.Count(text, "forged"); n < 3 {
			t.Fatalf("%v: the evil strings were not logged (escaped) at all (%d):\n%s", format, n, text)
		}
	}
}
