package policy_test

import (
	"fmt"
	"net/netip"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/policy"
)

// A simulator passes a Recorder to Decide: every line tried before the
// deciding one reports the first condition that failed, with what the line
// wanted and what the request had.
func ExamplePolicy_Decide_trace() {
	conf := &config.SockdConf{Source: "sockd.conf", Rules: []config.Rule{
		{Pos: config.Pos{Line: 1, Col: 1}, Action: config.Deny,
			Src:  config.Addr{Kind: config.AddrMask, IP: netip.MustParseAddr("10.1.2.3"), Mask: netip.MustParseAddr("255.255.255.255")},
			Text: "deny 10.1.2.3 255.255.255.255"},
		{Pos: config.Pos{Line: 2, Col: 1}, Action: config.Permit,
			Src:  config.Addr{Kind: config.AddrMask, IP: netip.MustParseAddr("10.0.0.0"), Mask: netip.MustParseAddr("255.0.0.0")},
			Port: config.PortTest{Op: config.OpLT, Port: 1024},
			Text: "permit 10.0.0.0 255.0.0.0 lt 1024"},
		{Pos: config.Pos{Line: 3, Col: 1}, Action: config.Deny, Users: []string{"guest"},
			Text: "deny *=guest 0.0.0.0 0.0.0.0"},
		{Pos: config.Pos{Line: 4, Col: 1}, Action: config.Permit, Ident: config.IdentLenient,
			Src:     config.Addr{Kind: config.AddrPattern, Pattern: ".corp.example"},
			Command: "logger %u@%A to %Z:%s",
			Text:    "permit ?=i .corp.example 0.0.0.0 : logger %u@%A to %Z:%s"},
	}}
	p, err := policy.New(conf, policy.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	req := &policy.Request{
		Command:  policy.CmdConnect,
		SrcIP:    netip.MustParseAddr("10.9.9.9"),
		DstIP:    netip.MustParseAddr("192.0.2.80"),
		DstPort:  8080,
		User:     "alice",
		SrcNames: func() []string { return []string{"pc7.corp.example."} },
		Ident:    func() (string, error) { return "alice", nil },
	}
	var rec policy.Recorder
	d := p.Decide(req, &rec)
	for _, s := range rec.Steps {
		fmt.Println(s)
	}
	fmt.Printf("permit=%v reply=%d line=%d command=%q\n", d.Permit, d.Reply4, d.Rule.Pos.Line, d.Command)
	// Output:
	// line 1: no match on source: want 10.1.2.3 255.255.255.255, got 10.9.9.9
	// line 2: no match on port: want lt 1024, got 8080
	// line 3: no match on user: want *=guest, got "alice" (user ids are compared exactly, case-sensitively)
	// line 4: first matching line decides: permit
	// line 4: identd: want alice, got alice (lenient identd: identd confirms the user)
	// line 4: command: want logger %u@%A to %Z:%s, got logger alice@pc7.corp.example to 192.0.2.80:8080 (from rule)
	// permit=true reply=90 line=4 command="logger alice@pc7.corp.example to 192.0.2.80:8080"
}

// Without a matching line, the implicit final deny decides.
func ExamplePolicy_Decide_default() {
	conf := &config.SockdConf{Rules: []config.Rule{{Pos: config.Pos{Line: 1, Col: 1}, Action: config.Permit,
		Src: config.Addr{Kind: config.AddrMask, IP: netip.MustParseAddr("2001:db8::"), Mask: netip.MustParseAddr("ffff:ffff::")}}}}
	p, _ := policy.New(conf, policy.Options{})
	var rec policy.Recorder
	d := p.Decide(&policy.Request{Command: policy.CmdConnect, SrcIP: netip.MustParseAddr("192.0.2.1"), DstName: "example.org", DstPort: 443}, &rec)
	for _, s := range rec.Steps {
		fmt.Println(s)
	}
	fmt.Printf("permit=%v reply4=%d reply5=%d index=%d\n", d.Permit, d.Reply4, d.Reply5, d.Index)
	// Output:
	// line 1: no match on source: want 2001:db8:: ffff:ffff::, got 192.0.2.1 (an IPv6 rule never matches an IPv4 address)
	// default: no line matched: implicit deny
	// permit=false reply4=91 reply5=2 index=-1
}
