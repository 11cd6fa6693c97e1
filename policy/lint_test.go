package policy_test

import (
	"bytes"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/diag"
	"github.com/sockd/sockd/policy"
)

var finalDeny = deny(mask("0.0.0.0", "0.0.0.0"), anyAddr)

func noFiles(string) ([]byte, error) { return nil, fs.ErrNotExist }

func lint(t *testing.T, c *config.SockdConf) diag.List {
	t.Helper()
	return policy.Lint(c, policy.LintOptions{ReadFile: readUserFile, Stat: func(string) (fs.FileInfo, error) { return nil, fs.ErrNotExist }})
}

// lintLines returns "line: message" for each diagnostic.
func lintLines(l diag.List) []string {
	var out []string
	for _, d := range l {
		out = append(out, strconv.Itoa(d.Line)+": "+d.Message)
	}
	return out
}

func withUsers(r config.Rule, users ...string) config.Rule { r.Users = users; return r }
func withPort(r config.Rule, op config.PortOp, p uint16) config.Rule {
	r.Port = port(op, p)
	return r
}
func withCmd(r config.Rule, cmd string) config.Rule { r.Command = cmd; return r }

func TestLintShadowing(t *testing.T) {
	tests := []struct {
		name  string
		rules []config.Rule
		want  string // the message expected on line 2, "" for none
	}{
		{"narrower network, same action",
			[]config.Rule{permit(cidr("10.0.0.0/8"), anyAddr), permit(cidr("10.1.0.0/16"), anyAddr)},
			"rule is shadowed: line 1 already permits every request this line matches"},
		{"deny after a covering permit",
			[]config.Rule{permit(cidr("10.0.0.0/8"), anyAddr), deny(mask("10.1.2.3", "255.255.255.255"), anyAddr)},
			"deny is never reached: line 1 permits all of it first"},
		{"permit after a covering deny",
			[]config.Rule{deny(anyAddr, cidr("192.0.2.0/24")), permit(cidr("10.0.0.0/8"), mask("192.0.2.7", "255.255.255.255"))},
			"permit is never reached: line 1 denies all of it first"},
		{"wider network is not shadowed",
			[]config.Rule{permit(cidr("10.1.0.0/16"), anyAddr), deny(cidr("10.0.0.0/8"), anyAddr)}, ""},
		{"non-contiguous mask inside a prefix",
			[]config.Rule{permit(mask("10.0.0.0", "255.0.0.0"), anyAddr), deny(mask("10.0.5.0", "255.0.255.0"), anyAddr)},
			"deny is never reached: line 1 permits all of it first"},
		{"prefix inside a non-contiguous mask",
			[]config.Rule{permit(mask("10.0.5.0", "255.0.255.0"), anyAddr), deny(mask("10.1.5.0", "255.255.255.0"), anyAddr)},
			"deny is never reached: line 1 permits all of it first"},
		{"non-contiguous masks that only overlap",
			[]config.Rule{permit(mask("10.0.5.0", "255.0.255.0"), anyAddr), deny(mask("10.1.0.0", "255.255.0.0"), anyAddr)}, ""},
		{"unmasked config address",
			[]config.Rule{permit(mask("10.9.9.9", "255.0.0.0"), anyAddr), deny(cidr("10.1.0.0/16"), anyAddr)},
			"deny is never reached: line 1 permits all of it first"},
		{"IPv4 rule does not cover IPv6",
			[]config.Rule{permit(mask("0.0.0.0", "0.0.0.1"), anyAddr), deny(mask("::", "::1"), anyAddr)}, ""},
		{"zero mask covers a pattern",
			[]config.Rule{permit(mask("1.2.3.4", "0.0.0.0"), anyAddr), deny(pat(".example"), anyAddr)},
			"deny is never reached: line 1 permits all of it first"},
		{"ALL covers a network",
			[]config.Rule{deny(anyAddr, pat("ALL")), permit(anyAddr, cidr("2001:db8::/32"))},
			"permit is never reached: line 1 denies all of it first"},
		{"zone covers host below",
			[]config.Rule{permit(anyAddr, pat(".Example")), deny(anyAddr, pat("www.sub.example."))},
			"deny is never reached: line 1 permits all of it first"},
		{"zone covers itself as a host",
			[]config.Rule{permit(anyAddr, pat(".example")), deny(anyAddr, pat("EXAMPLE"))},
			"deny is never reached: line 1 permits all of it first"},
		{"host does not cover its zone",
			[]config.Rule{permit(anyAddr, pat("example")), deny(anyAddr, pat(".example"))}, ""},
		{"zone does not cover a look-alike",
			[]config.Rule{permit(anyAddr, pat(".example")), deny(anyAddr, pat("badexample"))}, ""},
		{"network does not cover a pattern",
			[]config.Rule{permit(cidr("10.0.0.0/8"), anyAddr), deny(pat("host.example"), anyAddr)}, ""},
		{"pattern does not cover a network",
			[]config.Rule{permit(pat(".example"), anyAddr), deny(cidr("10.0.0.0/8"), anyAddr)}, ""},
		{"no user list covers a user list",
			[]config.Rule{permit(anyAddr, anyAddr), withUsers(deny(anyAddr, anyAddr), "bob")},
			"deny is never reached: line 1 permits all of it first"},
		{"user list does not cover everyone",
			[]config.Rule{withUsers(permit(anyAddr, anyAddr), "bob"), deny(cidr("10.0.0.0/8"), anyAddr)}, ""},
		{"user subset",
			[]config.Rule{withUsers(permit(anyAddr, anyAddr), "alice", "bob"), withUsers(deny(anyAddr, anyAddr), "bob")},
			"deny is never reached: line 1 permits all of it first"},
		{"user file contents",
			[]config.Rule{withUsers(permit(anyAddr, anyAddr), "/u/staff"), withUsers(deny(anyAddr, anyAddr), "carol", "alice")},
			"deny is never reached: line 1 permits all of it first"},
		{"user file inside a list",
			[]config.Rule{withUsers(permit(anyAddr, anyAddr), "alice", "bob", "carol"), withUsers(deny(anyAddr, anyAddr), "/u/staff")},
			"deny is never reached: line 1 permits all of it first"},
		{"user not in file",
			[]config.Rule{withUsers(permit(anyAddr, anyAddr), "/u/staff"), withUsers(deny(anyAddr, anyAddr), "root")}, ""},
		{"users are case-sensitive",
			[]config.Rule{withUsers(permit(anyAddr, anyAddr), "alice"), withUsers(deny(anyAddr, anyAddr), "Alice")}, ""},
		{"port range inside",
			[]config.Rule{withPort(permit(anyAddr, anyAddr), config.OpLT, 1024), withPort(deny(anyAddr, anyAddr), config.OpEQ, 23)},
			"deny is never reached: line 1 permits all of it first"},
		{"port le vs lt",
			[]config.Rule{withPort(permit(anyAddr, anyAddr), config.OpLE, 1023), withPort(deny(anyAddr, anyAddr), config.OpLT, 1024)},
			"deny is never reached: line 1 permits all of it first"},
		{"neq covers a range missing the port",
			[]config.Rule{withPort(permit(anyAddr, anyAddr), config.OpNEQ, 23), withPort(deny(anyAddr, anyAddr), config.OpGT, 1024)},
			"deny is never reached: line 1 permits all of it first"},
		{"neq does not cover its port",
			[]config.Rule{withPort(permit(anyAddr, anyAddr), config.OpNEQ, 23), withPort(deny(anyAddr, anyAddr), config.OpGE, 23)}, ""},
		{"any port not covered by a port test",
			[]config.Rule{withPort(permit(anyAddr, anyAddr), config.OpGE, 1), deny(anyAddr, anyAddr)}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := conf(append(tc.rules, finalDeny)...)
			var got string
			for _, d := range lint(t, c) {
				if d.Line == 2 && !strings.HasPrefix(d.Message, "rule is redundant") {
					got = d.Message
					if len(d.Notes) != 1 || d.Notes[0].Line != 1 {
						t.Errorf("notes = %+v, want one at line 1", d.Notes)
					}
				}
			}
			if got != tc.want {
				t.Errorf("line 2: got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestLintRedundant(t *testing.T) {
	tests := []struct {
		name  string
		rules []config.Rule
		want  bool
	}{
		{"covered later, nothing between",
			[]config.Rule{permit(cidr("10.1.0.0/16"), anyAddr), permit(cidr("10.0.0.0/8"), anyAddr)}, true},
		{"non-overlapping deny between",
			[]config.Rule{permit(cidr("10.1.0.0/16"), anyAddr), deny(cidr("192.168.0.0/16"), anyAddr), permit(cidr("10.0.0.0/8"), anyAddr)}, true},
		{"overlapping deny between",
			[]config.Rule{permit(cidr("10.1.0.0/16"), anyAddr), deny(cidr("10.1.2.0/24"), anyAddr), permit(cidr("10.0.0.0/8"), anyAddr)}, false},
		{"pattern deny between (may overlap)",
			[]config.Rule{permit(cidr("10.1.0.0/16"), anyAddr), deny(pat("evil.example"), anyAddr), permit(cidr("10.0.0.0/8"), anyAddr)}, false},
		{"different command",
			[]config.Rule{withCmd(permit(cidr("10.1.0.0/16"), anyAddr), "logger a"), permit(cidr("10.0.0.0/8"), anyAddr)}, false},
		{"different identd setting",
			[]config.Rule{{Action: config.Permit, Ident: config.IdentStrict, Src: cidr("10.1.0.0/16"), Dst: anyAddr},
				permit(cidr("10.0.0.0/8"), anyAddr)}, false},
		{"different action",
			[]config.Rule{deny(cidr("10.1.0.0/16"), anyAddr), permit(cidr("10.0.0.0/8"), anyAddr)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := conf(append(tc.rules, finalDeny)...)
			got := false
			for _, d := range lint(t, c) {
				if d.Line == 1 && strings.HasPrefix(d.Message, "rule is redundant") {
					got = true
				}
			}
			if got != tc.want {
				t.Errorf("redundant = %v, want %v; lint: %q", got, tc.want, lintLines(lint(t, c)))
			}
		})
	}
}

type fakeInfo struct{ mode fs.FileMode }

func (f fakeInfo) Name() string       { return "f" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return nil }

func TestLintFiles(t *testing.T) {
	r := withUsers(permit(cidr("10.0.0.0/8"), anyAddr), "alice", "/u/staff", "/u/ops", "/u/missing")
	r.Text = "permit *=alice,/u/staff,/u/ops,/u/missing 10.0.0.0/8"
	c := conf(r, finalDeny)
	stat := func(name string) (fs.FileInfo, error) {
		switch name {
		case "/u/staff":
			return fakeInfo{0o666}, nil
		case "/u/ops":
			return fakeInfo{0o640}, nil
		}
		return nil, fs.ErrNotExist
	}
	l := policy.Lint(c, policy.LintOptions{ReadFile: readUserFile, Stat: stat})
	if len(l) != 2 {
		t.Fatalf("got %q", lintLines(l))
	}
	ww := l[0]
	if !strings.Contains(ww.Message, "/u/staff is world-writable") || ww.Col != 16 || ww.EndCol != 24 || ww.Severity != diag.Warning {
		t.Errorf("world-writable: %+v", ww)
	}
	if ur := l[1]; !strings.Contains(ur.Message, "/u/missing") || !strings.Contains(ur.Message, "cannot be read") || ur.Col != 32 {
		t.Errorf("unreadable: %+v", ur)
	}
}

func TestLintNeverMatches(t *testing.T) {
	c := conf(withPort(permit(anyAddr, anyAddr), config.OpLT, 0), withUsers(permit(anyAddr, anyAddr), "/u/empty"), finalDeny)
	got := lintLines(lint(t, c))
	want := []string{"1: rule can never match: no port is lt 0", "2: rule can never match: its user list names no user"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q", got)
	}
}

func TestLintFinalDeny(t *testing.T) {
	for _, tc := range []struct {
		rules []config.Rule
		want  string
	}{
		{[]config.Rule{permit(cidr("10.0.0.0/8"), anyAddr)}, "1: no explicit final deny"},
		{[]config.Rule{permit(cidr("10.0.0.0/8"), anyAddr), deny(cidr("10.1.0.0/16"), anyAddr)}, "2: no explicit final deny"},
		{[]config.Rule{withUsers(deny(anyAddr, anyAddr), "bob")}, "1: no explicit final deny"},
		{[]config.Rule{permit(cidr("10.0.0.0/8"), anyAddr), deny(pat("ALL"), mask("0.0.0.0", "0.0.0.0"))}, ""},
		{nil, "1: no rules"},
	} {
		got := strings.Join(lintLines(lint(t, conf(tc.rules...))), "\n")
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("rules %d: got %q, want %q", len(tc.rules), got, tc.want)
		}
	}
}

func TestLintRendering(t *testing.T) {
	r1 := permit(cidr("10.0.0.0/8"), anyAddr)
	r1.Text = "permit 10.0.0.0 255.0.0.0"
	r2 := deny(mask("10.1.2.3", "255.255.255.255"), anyAddr)
	r2.Text = "  deny 10.1.2.3 255.255.255.255"
	c := conf(r1, r2, finalDeny)
	c.Rules[1].Pos.Col = 3
	var b bytes.Buffer
	lint(t, c).WriteText(&b)
	want := `sockd.conf:2:3: warning: deny is never reached: line 1 permits all of it first
      deny 10.1.2.3 255.255.255.255
      ^
    hint: the first matching line decides; move this line above the other one or remove it
sockd.conf:1:1: note: this earlier line matches every request the later line matches
    permit 10.0.0.0 255.0.0.0
    ^
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestLintInvalidRule(t *testing.T) {
	c := conf(permit(config.Addr{Kind: config.AddrMask, IP: ip("10.0.0.0"), Mask: ip("ffff::")}, anyAddr))
	l := policy.Lint(c, policy.LintOptions{ReadFile: noFiles})
	if !l.HasErrors() || !strings.Contains(l[0].Message, "different families") {
		t.Fatalf("got %q", lintLines(l))
	}
}
