package policy_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/policy"
	"pgregory.net/rapid"
)

// The generators draw rules and requests from small shared pools, so that
// random requests hit random rules often and overlapping rules are common.

var addrPool = []string{
	"10.0.0.0", "10.1.0.0", "10.1.2.0", "10.1.2.3", "10.2.5.7", "192.0.2.1", "0.0.0.0", "255.255.255.255",
	"2001:db8::", "2001:db8:1::", "2001:db8:1::5", "fe80::1", "::",
}

var v4MaskPool = []string{
	"255.0.0.0", "255.255.0.0", "255.255.255.0", "255.255.255.255", "0.0.0.0",
	"255.0.255.0", "0.255.0.0", "255.255.0.255", "0.0.0.255", "128.0.0.0",
}

var v6MaskPool = []string{
	"ffff:ffff::", "ffff:ffff:ffff::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::",
	"ffff:0:ffff::", "ffff::", "ff00::",
}

var patternPool = []string{"ALL", "www.example", ".example", ".sub.example", "EXAMPLE", "other.test", ".", ".test"}

var namePool = []string{"www.example", "a.sub.example", "example", "WWW.EXAMPLE.", "other.test", "x.test", "xexample", "e"}

var userPool = []string{"alice", "bob", "root", "Alice", "carol"}

var portPool = []uint16{0, 1, 21, 23, 80, 1023, 1024, 8080, 65535}

var userFiles = map[string]string{
	"/u/staff": "alice, bob\n# x\ncarol",
	"/u/ops":   "root carol",
	"/u/empty": "# nobody",
}

func readUserFile(name string) ([]byte, error) {
	if s, ok := userFiles[name]; ok {
		return []byte(s), nil
	}
	return nil, errors.New("no such file")
}

func genAddr(t *rapid.T, label string) config.Addr {
	switch rapid.IntRange(0, 9).Draw(t, label+"kind") {
	case 0:
		return config.Addr{Kind: config.AddrAny}
	case 1, 2:
		return config.Addr{Kind: config.AddrPattern, Pattern: rapid.SampledFrom(patternPool).Draw(t, label+"pat")}
	}
	a := netip.MustParseAddr(rapid.SampledFrom(addrPool).Draw(t, label+"ip"))
	var m netip.Addr
	if a.Is4() {
		m = netip.MustParseAddr(rapid.SampledFrom(v4MaskPool).Draw(t, label+"mask"))
		switch rapid.IntRange(0, 9).Draw(t, label+"mapped") {
		case 0: // ::ffff:a.b.c.d with a 128-bit mask covering ::ffff:0:0/96: an IPv4 rule
			m16 := m.As16()
			for i := 0; i < 12; i++ {
				m16[i] = 0xff
			}
			a, m = netip.AddrFrom16(a.As16()), netip.AddrFrom16(m16)
		case 1: // ::ffff:a.b.c.d with a shorter IPv6 mask: an IPv6 rule
			a, m = netip.AddrFrom16(a.As16()), netip.MustParseAddr(rapid.SampledFrom(v6MaskPool).Draw(t, label+"mask6"))
		}
	} else {
		m = netip.MustParseAddr(rapid.SampledFrom(v6MaskPool).Draw(t, label+"mask"))
	}
	return config.Addr{Kind: config.AddrMask, IP: a, Mask: m}
}

func genRule(t *rapid.T, i int) config.Rule {
	l := fmt.Sprint(i)
	r := config.Rule{
		Pos:    config.Pos{Line: i + 1, Col: 1},
		Action: config.Action(rapid.IntRange(0, 1).Draw(t, "act"+l)),
		Ident:  config.Ident(rapid.IntRange(0, 3).Draw(t, "ident"+l)),
		Src:    genAddr(t, "src"+l),
		Dst:    genAddr(t, "dst"+l),
	}
	r.Text = fmt.Sprintf("%s line %d", r.Action, i+1)
	if rapid.IntRange(0, 3).Draw(t, "hasusers"+l) == 0 {
		n := rapid.IntRange(0, 3).Draw(t, "nusers"+l)
		r.Users = []string{}
		for j := 0; j < n; j++ {
			if rapid.Bool().Draw(t, "file"+l) {
				r.Users = append(r.Users, rapid.SampledFrom([]string{"/u/staff", "/u/ops", "/u/empty"}).Draw(t, "f"+l))
			} else {
				r.Users = append(r.Users, rapid.SampledFrom(userPool).Draw(t, "u"+l))
			}
		}
	}
	if rapid.Bool().Draw(t, "hasport"+l) {
		r.Port = config.PortTest{Op: config.PortOp(rapid.IntRange(1, 6).Draw(t, "op"+l)),
			Port: rapid.SampledFrom(portPool).Draw(t, "port"+l)}
	}
	if rapid.IntRange(0, 3).Draw(t, "hascmd"+l) == 0 {
		r.Command = "echo %u %U"
	}
	return r
}

func genConf(t *rapid.T, maxRules int) *config.SockdConf {
	n := rapid.IntRange(0, maxRules).Draw(t, "nrules")
	c := &config.SockdConf{Source: "gen.conf"}
	for i := 0; i < n; i++ {
		c.Rules = append(c.Rules, genRule(t, i))
	}
	c.NoIdentd = &config.Special{Command: "noident %u"}
	c.BadID = &config.Special{Command: "badid %U"}
	return c
}

// genRequestAddr draws an address near the pools: a pool address, with its
// low bits or a middle byte sometimes changed, sometimes IPv4-mapped.
func genRequestAddr(t *rapid.T, label string) netip.Addr {
	a := netip.MustParseAddr(rapid.SampledFrom(addrPool).Draw(t, label))
	b := a.AsSlice()
	switch rapid.IntRange(0, 3).Draw(t, label+"tweak") {
	case 1:
		b[len(b)-1] = byte(rapid.IntRange(0, 255).Draw(t, label+"low"))
	case 2:
		b[1] = byte(rapid.IntRange(0, 255).Draw(t, label+"mid"))
	}
	a, _ = netip.AddrFromSlice(b)
	if a.Is4() && rapid.IntRange(0, 5).Draw(t, label+"map") == 0 {
		a = netip.AddrFrom16(a.As16())
	}
	return a
}

func genNames(t *rapid.T, label string) []string {
	n := rapid.IntRange(0, 2).Draw(t, label+"n")
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, rapid.SampledFrom(namePool).Draw(t, label))
	}
	return out
}

type hookCalls struct{ src, dst, ident int }

func genRequest(t *rapid.T) (policy.Request, *hookCalls) {
	calls := &hookCalls{}
	req := policy.Request{
		Command: policy.Command(rapid.IntRange(1, 3).Draw(t, "cmd")),
		SrcIP:   genRequestAddr(t, "rsrc"),
		SrcPort: 1025,
		DstPort: rapid.SampledFrom(portPool).Draw(t, "rport"),
		User:    rapid.SampledFrom(userPool).Draw(t, "ruser"),
	}
	if rapid.IntRange(0, 3).Draw(t, "nameonly") != 0 {
		req.DstIP = genRequestAddr(t, "rdst")
	}
	if req.DstIP.IsValid() && rapid.Bool().Draw(t, "hasname") || !req.DstIP.IsValid() {
		req.DstName = rapid.SampledFrom(namePool).Draw(t, "rname")
	}
	srcNames, dstNames := genNames(t, "srcnames"), genNames(t, "dstnames")
	req.SrcNames = func() []string { calls.src++; return srcNames }
	req.DstNames = func() []string { calls.dst++; return dstNames }
	identUser := rapid.SampledFrom(append([]string{""}, userPool...)).Draw(t, "identuser")
	var identErr error
	if rapid.IntRange(0, 3).Draw(t, "identerr") == 0 {
		identErr = errors.New("unreachable")
	}
	req.Ident = func() (string, error) { calls.ident++; return identUser, identErr }
	return req, calls
}
