package policy_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strings"
	"testing"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/ident"
	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/policy"
)

func mustNew(t testing.TB, c *config.SockdConf, opts policy.Options) *policy.Policy {
	t.Helper()
	p, err := policy.New(c, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// decideBoth decides with the index, the tracer walk and the naive loop and
// fails unless they agree on the deciding line.
func decideBoth(t *testing.T, p *policy.Policy, req policy.Request) policy.Decision {
	t.Helper()
	r1, r2, r3 := req, req, req
	d := p.Decide(&r1, nil)
	var rec policy.Recorder
	dt := p.Decide(&r2, &rec)
	dn := p.DecideNaive(&r3)
	if d.Index != dt.Index || d.Index != dn.Index || d.Permit != dt.Permit || d.Reply4 != dn.Reply4 {
		t.Fatalf("index %d/%d/%d permit %v/%v disagree", d.Index, dt.Index, dn.Index, d.Permit, dt.Permit)
	}
	return d
}

func TestAddressMatching(t *testing.T) {
	tests := []struct {
		name string
		rule config.Addr
		src  string
		want bool
	}{
		{"v4 network", mask("10.0.0.0", "255.0.0.0"), "10.9.8.7", true},
		{"v4 outside", mask("10.0.0.0", "255.0.0.0"), "11.0.0.1", false},
		{"config not pre-masked", mask("10.1.2.3", "255.255.0.0"), "10.1.200.200", true},
		{"non-contiguous mask", mask("10.0.5.0", "255.0.255.0"), "10.77.5.1", true},
		{"non-contiguous mask miss", mask("10.0.5.0", "255.0.255.0"), "10.77.6.1", false},
		{"exact host", mask("192.0.2.1", "255.255.255.255"), "192.0.2.1", true},
		{"exact host miss", mask("192.0.2.1", "255.255.255.255"), "192.0.2.2", false},
		{"zero mask v4 rule matches v6", mask("1.2.3.4", "0.0.0.0"), "2001:db8::1", true},
		{"v4 rule never matches v6", mask("0.0.0.0", "0.0.0.255"), "::", false},
		{"mapped address unmapped", mask("10.0.0.0", "255.0.0.0"), "::ffff:10.1.1.1", true},
		{"v6 network", cidr("2001:db8::/32"), "2001:db8:1::5", true},
		{"v6 outside", cidr("2001:db8::/32"), "2001:db9::5", false},
		{"v6 rule never matches v4", cidr("::/1"), "10.0.0.1", false},
		{"mapped config is v4", mask("::ffff:10.0.0.0", "ffff:ffff:ffff:ffff:ffff:ffff:ff00:0"), "10.3.3.3", true},
		{"mapped config with a short mask is IPv6", mask("::ffff:10.0.0.0", "ffff:ffff::"), "10.3.3.3", false},
		{"ALL", pat("ALL"), "10.3.3.3", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustNew(t, conf(permit(tc.rule, anyAddr)), policy.Options{})
			d := decideBoth(t, p, policy.Request{Command: policy.CmdConnect, SrcIP: ip(tc.src), DstIP: ip("192.0.2.9"), DstPort: 80})
			if d.Permit != tc.want {
				t.Errorf("permit = %v, want %v", d.Permit, tc.want)
			}
		})
	}
}

func TestDestinationNames(t *testing.T) {
	tests := []struct {
		name     string
		rule     config.Addr
		dstIP    string // "" = only a name
		dstName  string
		revNames []string
		want     bool
	}{
		{"ALL matches a name-only request", pat("ALL"), "", "www.example", nil, true},
		{"zero mask matches a name-only request", mask("0.0.0.0", "0.0.0.0"), "", "www.example", nil, true},
		{"mask never matches a name-only request", mask("10.0.0.0", "255.0.0.0"), "", "www.example", nil, false},
		{"host name, case-insensitive", pat("WWW.Example"), "", "www.example", nil, true},
		{"host name via reverse name", pat("www.example"), "192.0.2.1", "", []string{"other.test", "www.example."}, true},
		{"host name miss", pat("www.example"), "192.0.2.1", "ftp.example", []string{"x.example"}, false},
		{"zone matches itself", pat(".example"), "", "example", nil, true},
		{"zone matches below", pat(".example"), "", "a.b.EXAMPLE", nil, true},
		{"zone needs a dot boundary", pat(".example"), "", "badexample", nil, false},
		{"zone longer than name", pat(".example.org"), "", "ple.org", nil, false},
		{"short name vs zone (4.3 read out of bounds)", pat(".example"), "", "e", nil, false},
		{"trailing dot ignored", pat(".example."), "", "www.example.", nil, true},
		{"root zone", pat("."), "", "anything.test", nil, true},
		{"pattern never matches an address without names", pat(".example"), "192.0.2.1", "", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustNew(t, conf(permit(anyAddr, tc.rule)), policy.Options{})
			req := policy.Request{Command: policy.CmdConnect, SrcIP: ip("10.0.0.1"), DstName: tc.dstName, DstPort: 80}
			if tc.dstIP != "" {
				req.DstIP = ip(tc.dstIP)
			}
			names := tc.revNames
			req.DstNames = func() []string { return names }
			if d := decideBoth(t, p, req); d.Permit != tc.want {
				t.Errorf("permit = %v, want %v", d.Permit, tc.want)
			}
		})
	}
}

func TestSourcePatternUsesReverseNamesLazily(t *testing.T) {
	c := conf(
		deny(mask("10.0.0.66", "255.255.255.255"), anyAddr),
		permit(pat(".corp.example"), anyAddr),
	)
	p := mustNew(t, c, policy.Options{})
	calls := 0
	req := policy.Request{Command: policy.CmdConnect, SrcIP: ip("10.0.0.66"), DstIP: ip("192.0.2.1"),
		SrcNames: func() []string { calls++; return []string{"pc.corp.example"} }}
	if d := p.Decide(&req, nil); d.Permit || d.Index != 0 {
		t.Fatalf("got %+v, want line 0 deny", d)
	}
	if calls != 0 {
		t.Fatalf("reverse names asked %d times though no pattern was tested", calls)
	}
	req.SrcIP = ip("10.0.0.5")
	if d := p.Decide(&req, nil); !d.Permit || d.Index != 1 {
		t.Fatalf("got %+v, want line 1 permit", d)
	}
	if calls != 1 {
		t.Fatalf("reverse names asked %d times, want 1", calls)
	}
}

func TestUsersAndFiles(t *testing.T) {
	files := map[string]string{
		"/etc/socks.users": "# staff\nalice, bob\tcarol # trailing comment\n\n,,dave,\n",
	}
	read := func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
	r := permit(anyAddr, anyAddr)
	r.Users = []string{"root", "/etc/socks.users"}
	p := mustNew(t, conf(r), policy.Options{ReadFile: read})
	for user, want := range map[string]bool{
		"root": true, "alice": true, "bob": true, "carol": true, "dave": true,
		"Alice": false, "staff": false, "comment": false, "": false, "eve": false,
	} {
		d := decideBoth(t, p, policy.Request{Command: policy.CmdConnect, SrcIP: ip("10.0.0.1"), DstIP: ip("10.0.0.2"), User: user})
		if d.Permit != want {
			t.Errorf("user %q: permit = %v, want %v", user, d.Permit, want)
		}
	}

	// A large file goes to the hashed set; the answer must be the same.
	var b strings.Builder
	for i := range 100 {
		b.WriteString("user" + string(rune('a'+i%26)) + strings.Repeat("x", i) + "\n")
	}
	files["/big"] = b.String()
	r.Users = []string{"/big"}
	p = mustNew(t, conf(r), policy.Options{ReadFile: read})
	if d := decideBoth(t, p, policy.Request{SrcIP: ip("10.0.0.1"), DstIP: ip("10.0.0.2"), User: "userc" + strings.Repeat("x", 28)}); !d.Permit {
		t.Error("user from a large file not matched")
	}
	if d := decideBoth(t, p, policy.Request{SrcIP: ip("10.0.0.1"), DstIP: ip("10.0.0.2"), User: "userc"}); d.Permit {
		t.Error("unlisted user matched")
	}
}

func TestNewRejectsBadUserFiles(t *testing.T) {
	r := deny(anyAddr, anyAddr)
	r.Users = []string{"/missing"}
	_, err := policy.New(conf(r), policy.Options{ReadFile: func(string) ([]byte, error) { return nil, fs.ErrPermission }})
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "sockd.conf:1:") {
		t.Fatalf("unreadable user file: err = %v", err)
	}
	long := strings.Repeat("a", 1024)
	_, err = policy.New(conf(r), policy.Options{ReadFile: func(string) ([]byte, error) { return []byte("ok\n" + long), nil }})
	if err == nil || !strings.Contains(err.Error(), "/missing:2") {
		t.Fatalf("overlong line: err = %v", err)
	}
	if _, err := policy.New(conf(r), policy.Options{ReadFile: func(string) ([]byte, error) { return []byte(long[:1023]), nil }}); err != nil {
		t.Fatalf("1023-character line refused: %v", err)
	}
}

func TestNewRejectsBadAddresses(t *testing.T) {
	bad := []config.Addr{
		{Kind: config.AddrMask, IP: ip("10.0.0.0"), Mask: ip("ffff::")},
		{Kind: config.AddrMask, IP: ip("10.0.0.0")},
		{Kind: config.AddrPattern},
		{Kind: 9},
	}
	for _, a := range bad {
		if _, err := policy.New(conf(permit(a, anyAddr)), policy.Options{}); err == nil {
			t.Errorf("New accepted source %+v", a)
		}
	}
}

func TestPorts(t *testing.T) {
	tests := []struct {
		op   config.PortOp
		want uint16
		port uint16
		ok   bool
	}{
		{config.OpEQ, 23, 23, true}, {config.OpEQ, 23, 24, false},
		{config.OpNEQ, 23, 23, false}, {config.OpNEQ, 23, 24, true},
		{config.OpLT, 1024, 1023, true}, {config.OpLT, 1024, 1024, false},
		{config.OpGT, 1024, 1025, true}, {config.OpGT, 1024, 1024, false},
		{config.OpLE, 1024, 1024, true}, {config.OpLE, 1024, 1025, false},
		{config.OpGE, 1024, 1024, true}, {config.OpGE, 1024, 1023, false},
		{config.OpNone, 0, 65535, true},
	}
	for _, tc := range tests {
		r := permit(anyAddr, anyAddr)
		r.Port = port(tc.op, tc.want)
		p := mustNew(t, conf(r), policy.Options{})
		d := decideBoth(t, p, policy.Request{SrcIP: ip("10.0.0.1"), DstIP: ip("10.0.0.2"), DstPort: tc.port})
		if d.Permit != tc.ok {
			t.Errorf("%s %d vs %d: permit = %v", tc.op, tc.want, tc.port, d.Permit)
		}
	}
}

func TestDefaultDeny(t *testing.T) {
	p := mustNew(t, conf(permit(mask("10.0.0.0", "255.0.0.0"), anyAddr)), policy.Options{})
	d := decideBoth(t, p, policy.Request{SrcIP: ip("192.0.2.1"), DstIP: ip("10.0.0.2")})
	if d.Permit || d.Index != -1 || d.Rule != nil || d.Reply4 != 91 || d.Reply5 != 2 || d.Command != "" {
		t.Fatalf("default decision = %+v", d)
	}
	d = decideBoth(t, p, policy.Request{SrcIP: ip("10.1.2.3"), DstIP: ip("10.0.0.2")})
	if !d.Permit || d.Index != 0 || d.Reply4 != 90 || d.Reply5 != 0 {
		t.Fatalf("permit decision = %+v", d)
	}
}

type identCase struct {
	name      string
	line      config.Ident
	global    policy.IdentMode
	action    config.Action
	identUser string
	identErr  error
	// want
	asked   bool
	permit  bool
	reply4  byte
	command string
	from    policy.CommandSource
	pre     string
	noteHas string
	ident   policy.IdentOutcome
}

func TestIdentd(t *testing.T) {
	unreachable := errors.New("connection refused")
	tests := []identCase{
		{name: "off: not asked", line: config.IdentDefault, action: config.Permit,
			permit: true, reply4: 90, command: "rule unknown", from: policy.CommandRule},
		{name: "?=n overrides global -I", line: config.IdentOff, global: policy.IdentModeStrict, action: config.Permit,
			permit: true, reply4: 90, command: "rule unknown", from: policy.CommandRule},
		{name: "global -i applies", line: config.IdentDefault, global: policy.IdentModeLenient, action: config.Permit,
			identUser: "bob", asked: true, permit: true, reply4: 90, command: "rule bob", from: policy.CommandRule, ident: policy.IdentConfirmed},
		{name: "deny never asks", line: config.IdentStrict, global: policy.IdentModeStrict, action: config.Deny,
			identErr: unreachable, reply4: 91, command: "rule unknown", from: policy.CommandRule},
		{name: "strict unreachable", line: config.IdentStrict, action: config.Permit, identErr: unreachable,
			asked: true, reply4: 92, command: "noident bob unknown", from: policy.CommandNoIdentd,
			noteHas: "cannot connect to identd on 10.0.0.1", ident: policy.IdentFailed},
		{name: "strict no answer", line: config.IdentStrict, action: config.Permit, identErr: fmt.Errorf("dial: %w", ident.ErrUnreachable),
			asked: true, reply4: 92, command: "noident bob unknown", from: policy.CommandNoIdentd,
			noteHas: "cannot connect to identd on 10.0.0.1", ident: policy.IdentUnreachable},
		{name: "lenient garbled answer", line: config.IdentLenient, action: config.Permit, identErr: fmt.Errorf("reply: %w", ident.ErrMalformed),
			asked: true, permit: true, reply4: 90, command: "rule unknown", from: policy.CommandRule,
			pre: "noident bob unknown", noteHas: "cannot connect to identd on 10.0.0.1", ident: policy.IdentMalformed},
		{name: "strict empty answer", line: config.IdentStrict, action: config.Permit, identUser: "",
			asked: true, reply4: 92, command: "noident bob unknown", from: policy.CommandNoIdentd,
			noteHas: "cannot connect to identd", ident: policy.IdentFailed},
		{name: "lenient unreachable", line: config.IdentLenient, action: config.Permit, identErr: unreachable,
			asked: true, permit: true, reply4: 90, command: "rule unknown", from: policy.CommandRule,
			pre: "noident bob unknown", noteHas: "cannot connect to identd", ident: policy.IdentFailed},
		{name: "lenient other user", line: config.IdentLenient, action: config.Permit, identUser: "mallory",
			asked: true, reply4: 93, command: "badid mallory bob", from: policy.CommandBadID,
			noteHas: "*Alert*: real user is mallory, not bob", ident: policy.IdentMismatch},
		{name: "strict same user", line: config.IdentStrict, action: config.Permit, identUser: "bob",
			asked: true, permit: true, reply4: 90, command: "rule bob", from: policy.CommandRule, ident: policy.IdentConfirmed},
		{name: "case matters", line: config.IdentStrict, action: config.Permit, identUser: "Bob",
			asked: true, reply4: 93, command: "badid Bob bob", from: policy.CommandBadID,
			noteHas: "real user is Bob, not bob", ident: policy.IdentMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := config.Rule{Action: tc.action, Ident: tc.line, Src: anyAddr, Dst: anyAddr, Command: "rule %U"}
			c := conf(r)
			c.NoIdentd = &config.Special{Command: "noident %u %U"}
			c.BadID = &config.Special{Command: "badid %U %u"}
			p := mustNew(t, c, policy.Options{IdentMode: tc.global})
			asked := 0
			req := policy.Request{Command: policy.CmdConnect, SrcIP: ip("10.0.0.1"), DstIP: ip("10.0.0.2"), User: "bob",
				Ident: func() (string, error) { asked++; return tc.identUser, tc.identErr }}
			d := decideBoth(t, p, req)
			if d.IdentAsked() != tc.asked || (asked > 0) != tc.asked {
				t.Errorf("asked = %v (hook %d calls), want %v", d.IdentAsked(), asked, tc.asked)
			}
			if d.Ident != tc.ident {
				t.Errorf("identd outcome %d, want %d", d.Ident, tc.ident)
			}
			if d.Permit != tc.permit || d.Reply4 != tc.reply4 {
				t.Errorf("permit %v reply %d, want %v %d", d.Permit, d.Reply4, tc.permit, tc.reply4)
			}
			if wantR5 := byte(2); tc.permit {
				if d.Reply5 != 0 {
					t.Errorf("reply5 = %d", d.Reply5)
				}
			} else if d.Reply5 != wantR5 {
				t.Errorf("reply5 = %d", d.Reply5)
			}
			if d.Command != tc.command || d.CommandFrom != tc.from || d.PreCommand != tc.pre {
				t.Errorf("commands %q from %v (pre %q), want %q from %v (pre %q)",
					d.Command, d.CommandFrom, d.PreCommand, tc.command, tc.from, tc.pre)
			}
			if note := logline.IdentNote(&d, &req); !strings.Contains(note, tc.noteHas) || (tc.noteHas == "" && note != "") {
				t.Errorf("note %q, want %q", note, tc.noteHas)
			}
			if got := d.ShellCommands(); len(got) == 0 || got[len(got)-1] != tc.command {
				t.Errorf("ShellCommands = %q", got)
			}
		})
	}
}

func TestIdentdWithoutSpecialLines(t *testing.T) {
	r := config.Rule{Action: config.Permit, Ident: config.IdentStrict, Src: anyAddr, Dst: anyAddr, Command: "echo %u"}
	p := mustNew(t, conf(r), policy.Options{})
	d := p.Decide(&policy.Request{SrcIP: ip("10.0.0.1"), User: "bob"}, nil) // no Ident hook: unreachable
	if d.Permit || d.Reply4 != 92 || d.Command != "" || d.CommandFrom != policy.CommandNone ||
		!errors.Is(d.IdentErr, policy.ErrNoIdentHook) {
		t.Fatalf("decision = %+v", d)
	}
}

func TestCommandExpansionInDecide(t *testing.T) {
	r := permit(anyAddr, anyAddr)
	r.Command = "log %c %u@%A(%a) to %Z(%z):%S/%s pid %p; $(rm -rf /)"
	p := mustNew(t, conf(r), policy.Options{Pid: 4242, ServiceName: func(p uint16) (string, bool) {
		return map[uint16]string{23: "telnet"}[p], p == 23
	}})
	req := policy.Request{Command: policy.CmdBind, SrcIP: ip("::ffff:10.0.0.1"), DstIP: ip("192.0.2.7"), DstPort: 23,
		User:     "ev il;`id`",
		SrcNames: func() []string { return []string{"pc$(x).corp."} },
		DstNames: func() []string { return []string{"host.example."} }}
	d := p.Decide(&req, nil)
	want := "log bind ev_il__id_@pc__x_.corp(10.0.0.1) to host.example(192.0.2.7):telnet/23 pid 4242; $(rm -rf /)"
	if d.Command != want || d.CommandErr != nil {
		t.Fatalf("command\n got %q\nwant %q (err %v)", d.Command, want, d.CommandErr)
	}
	// A 4a name is preferred for %Z, and no DNS hook runs for a template
	// that does not need it.
	r.Command = "to %Z port %S"
	p = mustNew(t, conf(r), policy.Options{ReadFile: func(string) ([]byte, error) { return []byte("ftp 21/tcp\nftp 21/udp\n"), nil }})
	calls := 0
	req = policy.Request{Command: policy.CmdConnect, SrcIP: ip("10.0.0.1"), DstName: "www.example", DstPort: 21,
		SrcNames: func() []string { calls++; return nil }, DstNames: func() []string { calls++; return nil }}
	if d := p.Decide(&req, nil); d.Command != "to www.example port ftp" || calls != 0 {
		t.Fatalf("command %q, %d DNS calls", d.Command, calls)
	}
	r.Command = "%u"
	p = mustNew(t, conf(r), policy.Options{})
	d = p.Decide(&policy.Request{SrcIP: ip("10.0.0.1"), User: ";;"}, nil)
	if d.Command != "" || !errors.Is(d.CommandErr, policy.ErrNoAlnum) || d.CommandFrom != policy.CommandRule || !d.Permit {
		t.Fatalf("no-alnum command: %+v", d)
	}
}

func TestDecideIsSafeForConcurrentUse(t *testing.T) {
	c := conf(
		deny(mask("10.0.0.66", "255.255.255.255"), anyAddr),
		permit(mask("10.0.0.0", "255.0.0.0"), anyAddr),
	)
	c.Rules[1].Command = "port %S"
	p := mustNew(t, c, policy.Options{ReadFile: func(string) ([]byte, error) { return []byte("www 80/tcp"), nil }})
	done := make(chan string, 8)
	for range 8 {
		go func() {
			var got string
			for range 200 {
				d := p.Decide(&policy.Request{SrcIP: netip.MustParseAddr("10.1.1.1"), DstPort: 80}, nil)
				got = d.Command
			}
			done <- got
		}()
	}
	for range 8 {
		if got := <-done; got != "port www" {
			t.Fatalf("command %q", got)
		}
	}
}

// The daemon's hot path: no tracer, no command, no identd: no allocation.
func TestDecideDoesNotAllocate(t *testing.T) {
	c := conf(
		deny(mask("10.0.0.66", "255.255.255.255"), anyAddr),
		withUsers(permit(cidr("10.0.0.0/8"), cidr("192.0.2.0/24")), "alice", "bob"),
		permit(pat(".corp.example"), anyAddr),
		permit(cidr("2001:db8::/32"), anyAddr),
		deny(anyAddr, anyAddr),
	)
	p := mustNew(t, c, policy.Options{})
	names := []string{"pc.corp.example"}
	reqs := []policy.Request{
		{Command: policy.CmdConnect, SrcIP: ip("10.1.1.1"), DstIP: ip("192.0.2.5"), DstPort: 80, User: "bob"},
		{Command: policy.CmdConnect, SrcIP: ip("172.16.0.1"), DstName: "www.example", DstPort: 443,
			SrcNames: func() []string { return names }},
		{Command: policy.CmdConnect, SrcIP: ip("2001:db8::1"), DstIP: ip("2001:db8::2"), DstPort: 22},
		{Command: policy.CmdBind, SrcIP: ip("198.51.100.1"), DstIP: ip("192.0.2.5"), DstPort: 80},
	}
	for i := range reqs {
		if n := testing.AllocsPerRun(100, func() { p.Decide(&reqs[i], nil) }); n != 0 {
			t.Errorf("request %d: %v allocations per decision", i, n)
		}
	}
}
