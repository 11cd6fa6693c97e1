package grammar

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/diag"
)

// Nine different mistakes on nine lines give exactly nine errors, each at
// the column of its fault.
func TestNineMistakes(t *testing.T) {
	src := strings.Join([]string{
		"permit 10.0.0.0 255.0.0.0 eq",               // 1: op without a port
		"permit 10.0.0.0 255.0.0.0 192.168.0.0",      // 2: destination without its mask
		"permit 10.1.2 255.255.0.0",                  // 3: not a dotted quad
		"permti 10.0.0.0 255.0.0.0",                  // 4: unknown action
		"permit ?=x 10.0.0.0 255.0.0.0",              // 5: unknown ?= letter
		"permit *=alice,,bob 10.0.0.0 255.0.0.0",     // 6: empty user entry
		"permit 10.0.0.0 255.0.0.0 eq telent",        // 7: unknown service
		"permit 10.0.0.0/33",                         // 8: CIDR length out of range
		"deny 10.0.0.0 255.0.0.0 eq 23 extra : echo", // 9: token left over
	}, "\n") + "\n"
	conf, diags := ParseSockd("nine.conf", []byte(src), testOptions())
	if conf != nil {
		t.Error("a file with errors must not compile")
	}
	want := []struct{ line, col int }{{1, 29}, {2, 38}, {3, 8}, {4, 1}, {5, 8}, {6, 16}, {7, 30}, {8, 16}, {9, 31}}
	errs := diags.Only(diag.Error)
	if len(errs) != len(want) || len(diags) != len(want) {
		t.Fatalf("got %d diagnostics (%d errors), want %d errors:\n%v", len(diags), len(errs), len(want), diags.Err())
	}
	for i, w := range want {
		if errs[i].Line != w.line || errs[i].Col != w.col || errs[i].File != "nine.conf" {
			t.Errorf("error %d at %s:%d:%d, want nine.conf:%d:%d (%s)", i, errs[i].File, errs[i].Line, errs[i].Col, w.line, w.col, errs[i].Message)
		}
	}
}

func TestLegacyCorpus(t *testing.T) {
	src, err := os.ReadFile("testdata/legacy43.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf, diags := ParseSockd("legacy43.conf", src, testOptions())
	if len(diags) != 0 || conf == nil {
		t.Fatalf("the 4.3 examples must compile cleanly:\n%v", diags.Err())
	}
	if len(conf.Rules) != 6 || conf.NoIdentd == nil || conf.BadID == nil {
		t.Fatalf("got %d rules, specials %v %v", len(conf.Rules), conf.NoIdentd, conf.BadID)
	}
	r := conf.Rules[1]
	want := config.Rule{
		Pos: config.Pos{Line: 6, Col: 1}, Action: config.Permit, Ident: config.IdentStrict,
		Users: []string{"alice", "/etc/socks.users"},
		Src:   mustAddr(t, "10.0.0.0", "255.0.0.0"), Dst: mustAddr(t, "0.0.0.0", "0.0.0.0"),
		Port: config.PortTest{Op: config.OpEQ, Port: 23, Service: "telnet"},
		Text: "permit ?=I *=alice,/etc/socks.users 10.0.0.0 255.0.0.0  0.0.0.0 0.0.0.0 eq telnet",
	}
	if d := cmp.Diff(want, r, cmpOpts); d != "" {
		t.Errorf("rule 2 (-want +got):\n%s", d)
	}
	third := conf.Rules[2]
	if third.Src.Kind != config.AddrPattern || third.Src.Pattern != ".corp.example" ||
		third.Dst.Kind != config.AddrPattern || third.Dst.Pattern != "ALL" ||
		third.Command != "echo %u@%A %c %Z:%s >>/var/log/socks.priv" {
		t.Errorf("rule 3 = %+v", third)
	}
	if conf.Rules[3].Dst.Kind != config.AddrAny || conf.Rules[3].Port.Op != config.OpGE {
		t.Errorf("rule 4 = %+v", conf.Rules[3])
	}
	if got := conf.NoIdentd.Command; got != `/usr/ucb/mail -s "SOCKS: no identd on %A" root` {
		t.Errorf("#NO_IDENTD: command %q", got)
	}
}

// A line of exactly the limit compiles; one character more is an error
// pointing at the first character past the limit.
func TestLineLimit(t *testing.T) {
	for _, tc := range []struct {
		limit int
		parse func([]byte) diag.List
		line  func(n int) string
	}{
		{1023, func(b []byte) diag.List { _, d := ParseSockd("f", b, testOptions()); return d },
			func(n int) string {
				return "permit 10.0.0.0 255.0.0.0 : echo " + strings.Repeat("x", n-len("permit 10.0.0.0 255.0.0.0 : echo "))
			}},
		{1024, func(b []byte) diag.List { _, d := ParseRoute("f", b, testOptions()); return d },
			func(n int) string {
				return "10.0.0.1 10.0.0.0 255.0.0.0" + strings.Repeat(" ", n-len("10.0.0.1 10.0.0.0 255.0.0.0"))
			}},
		{1024, func(b []byte) diag.List { _, d := ParseSocks("f", b, testOptions()); return d },
			func(n int) string {
				return "direct 10.0.0.0 255.0.0.0 : echo " + strings.Repeat("x", n-len("direct 10.0.0.0 255.0.0.0 : echo "))
			}},
	} {
		if d := tc.parse([]byte(tc.line(tc.limit) + "\n")); len(d) != 0 {
			t.Errorf("a %d-character line: %v", tc.limit, d.Err())
		}
		d := tc.parse([]byte(tc.line(tc.limit+1) + "\n"))
		if len(d) != 1 || d[0].Col != tc.limit+1 || d[0].Severity != diag.Error {
			t.Errorf("a %d-character line: got %v", tc.limit+1, d)
		}
	}
}

// Windows line endings and a missing final newline read the same as Unix
// text; Text never includes the line ending.
func TestLineEndings(t *testing.T) {
	a, d1 := ParseSockd("f", []byte("permit 10.0.0.0 255.0.0.0 : echo hi\r\ndeny 0.0.0.0 0.0.0.0"), testOptions())
	b, d2 := ParseSockd("f", []byte("permit 10.0.0.0 255.0.0.0 : echo hi\ndeny 0.0.0.0 0.0.0.0\n"), testOptions())
	if len(d1)+len(d2) != 0 {
		t.Fatal(d1, d2)
	}
	if d := cmp.Diff(a, b, cmpOpts); d != "" {
		t.Error(d)
	}
	if a.Rules[0].Text != "permit 10.0.0.0 255.0.0.0 : echo hi" || a.Rules[0].Command != "echo hi" {
		t.Errorf("%q %q", a.Rules[0].Text, a.Rules[0].Command)
	}
}

// The default options use the system's lookups; a user file that exists
// passes and the diagnostics of a missing one name it.
func TestDefaultOptions(t *testing.T) {
	dir := t.TempDir()
	users := dir + "/users"
	if err := os.WriteFile(users, []byte("alice\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("permit *=%s 10.0.0.0 255.0.0.0 eq 80\npermit *=%s/missing 10.0.0.0 255.0.0.0\npermit *=%s 10.0.0.0 255.0.0.0\n", users, dir, dir)
	_, diags := ParseSockd("f", []byte(src), Options{})
	if len(diags) != 2 || diags[0].Line != 2 || !strings.Contains(diags[0].Message, "does not exist") ||
		diags[1].Line != 3 || !strings.Contains(diags[1].Message, "not a regular file") {
		t.Errorf("got %v", diags)
	}
}

func TestSuggestions(t *testing.T) {
	for _, tc := range []struct {
		word  string
		cands []string
		want  string
	}{
		{"telent", []string{"ssh", "telnet"}, "telnet"},
		{"permti", []string{"permit", "deny"}, "permit"},
		{"PERMT", []string{"permit", "deny"}, "permit"},
		{"allow", []string{"permit", "deny"}, ""},
		{"x", []string{"ftp"}, ""},
		{"sock5", []string{"socks4", "socks4a", "socks5", "socks5h", "http"}, "socks5"},
	} {
		if got := closest(tc.word, tc.cands); got != tc.want {
			t.Errorf("closest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
	if d := editDistance("ca", "ac"); d != 1 {
		t.Errorf("a swap costs %d", d)
	}
}

func mustAddr(t testing.TB, ip, mask string) config.Addr {
	t.Helper()
	a, d := ParseRoute("x", []byte("10.0.0.1 "+ip+" "+mask+"\n"), testOptions())
	if a == nil {
		t.Fatalf("%s %s: %v", ip, mask, d)
	}
	return a.Routes[0].Dst
}

// cmpOpts compares netip.Addr by value (its fields are unexported).
var cmpOpts = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
