package policy_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/policy"
)

// bigConf builds a realistic large sockd.conf: banned hosts, per-subnet
// grants to service networks, wide high-port grants, per-user lines, IPv6
// lines, a few name-pattern lines, and a final catch-all deny.
func bigConf(n int) *config.SockdConf {
	rng := rand.New(rand.NewPCG(1, 2))
	v4 := func(a, b, c, d int) netip.Addr { return netip.AddrFrom4([4]byte{byte(a), byte(b), byte(c), byte(d)}) }
	m4 := func(bits int) netip.Addr {
		p, _ := netip.AddrFrom4([4]byte{255, 255, 255, 255}).Prefix(bits)
		return p.Addr()
	}
	m6 := func(bits int) netip.Addr {
		p, _ := netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").Prefix(bits)
		return p.Addr()
	}
	services := []uint16{22, 25, 80, 110, 143, 443, 993, 3306, 5432, 8080}
	c := &config.SockdConf{Source: "big.conf"}
	add := func(r config.Rule) {
		r.Pos = config.Pos{Line: len(c.Rules) + 1, Col: 1}
		r.Text = r.Action.String() + " generated"
		c.Rules = append(c.Rules, r)
	}
	for len(c.Rules) < n-1 {
		k := rng.IntN(100)
		switch {
		case k < 3: // a banned host
			add(config.Rule{Action: config.Deny,
				Src: config.Addr{Kind: config.AddrMask, IP: v4(10, rng.IntN(256), rng.IntN(256), rng.IntN(256)), Mask: m4(32)}})
		case k < 65: // a client subnet to a service subnet and port
			add(config.Rule{Action: config.Permit,
				Src:  config.Addr{Kind: config.AddrMask, IP: v4(10, rng.IntN(256), rng.IntN(256), 0), Mask: m4(24)},
				Dst:  config.Addr{Kind: config.AddrMask, IP: v4(172, 16+rng.IntN(16), rng.IntN(256), 0), Mask: m4(24)},
				Port: config.PortTest{Op: config.OpEQ, Port: services[rng.IntN(len(services))]}})
		case k < 80: // a site to a data-centre network, high ports
			add(config.Rule{Action: config.Permit,
				Src:  config.Addr{Kind: config.AddrMask, IP: v4(10, rng.IntN(256), 0, 0), Mask: m4(16)},
				Dst:  config.Addr{Kind: config.AddrMask, IP: v4(172, 16+rng.IntN(16), 0, 0), Mask: m4(16)},
				Port: config.PortTest{Op: config.OpGE, Port: 1024}})
		case k < 90: // per-user grants
			add(config.Rule{Action: config.Permit, Ident: config.IdentOff,
				Users: []string{fmt.Sprintf("user%d", rng.IntN(5000)), fmt.Sprintf("user%d", rng.IntN(5000))},
				Src:   config.Addr{Kind: config.AddrMask, IP: v4(10, rng.IntN(256), rng.IntN(256), 0), Mask: m4(24)},
				Dst:   config.Addr{Kind: config.AddrMask, IP: v4(192, 168, rng.IntN(256), 0), Mask: m4(24)},
				Port:  config.PortTest{Op: config.OpLT, Port: 1024}})
		case k < 99: // IPv6
			var s, d [16]byte
			copy(s[:], []byte{0x20, 0x01, 0x0d, 0xb8, byte(rng.IntN(256)), byte(rng.IntN(256))})
			copy(d[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, byte(rng.IntN(256)), byte(rng.IntN(256))})
			add(config.Rule{Action: config.Permit,
				Src: config.Addr{Kind: config.AddrMask, IP: netip.AddrFrom16(s), Mask: m6(48)},
				Dst: config.Addr{Kind: config.AddrMask, IP: netip.AddrFrom16(d), Mask: m6(64)}})
		default: // a name-pattern client zone to one service network
			add(config.Rule{Action: config.Permit,
				Src: config.Addr{Kind: config.AddrPattern, Pattern: fmt.Sprintf(".site%d.example", rng.IntN(100))},
				Dst: config.Addr{Kind: config.AddrMask, IP: v4(172, 16+rng.IntN(16), rng.IntN(256), 0), Mask: m4(24)}})
		}
	}
	add(config.Rule{Action: config.Deny,
		Src: config.Addr{Kind: config.AddrMask, IP: v4(0, 0, 0, 0), Mask: v4(0, 0, 0, 0)},
		Dst: config.Addr{Kind: config.AddrMask, IP: v4(0, 0, 0, 0), Mask: v4(0, 0, 0, 0)}})
	return c
}

// requestFor builds a request that line i matches (an earlier line may
// still decide it).
func requestFor(r *config.Rule, salt byte) policy.Request {
	host := func(a config.Addr, fallback netip.Addr) netip.Addr {
		if a.Kind != config.AddrMask {
			return fallback
		}
		b, m := a.IP.AsSlice(), a.Mask.AsSlice()
		for j := range b {
			b[j] = b[j]&m[j] | salt&^m[j]
		}
		out, _ := netip.AddrFromSlice(b)
		return out
	}
	req := policy.Request{Command: policy.CmdConnect,
		SrcIP: host(r.Src, netip.MustParseAddr("10.200.200.200")),
		DstIP: host(r.Dst, netip.MustParseAddr("172.16.1.1")), DstPort: 80}
	switch r.Port.Op {
	case config.OpEQ, config.OpGE, config.OpLE:
		req.DstPort = r.Port.Port
	case config.OpLT:
		req.DstPort = r.Port.Port - 1
	}
	if len(r.Users) > 0 {
		req.User = r.Users[0]
	}
	return req
}

var benchPolicy *policy.Policy

func bigPolicy(b *testing.B) *policy.Policy {
	if benchPolicy == nil {
		p, err := policy.New(bigConf(100_000), policy.Options{})
		if err != nil {
			b.Fatal(err)
		}
		benchPolicy = p
	}
	return benchPolicy
}

func BenchmarkDecide100k(b *testing.B) {
	p := bigPolicy(b)
	rules := p.Conf().Rules
	at := func(i int) policy.Request { return requestFor(&rules[i], 7) }
	cases := []struct {
		name string
		req  policy.Request
	}{
		{"early", at(10)},
		{"middle", at(50_000)},
		{"late", at(99_000)},
		{"default", policy.Request{Command: policy.CmdConnect, SrcIP: netip.MustParseAddr("198.51.100.1"),
			DstIP: netip.MustParseAddr("203.0.113.9"), DstPort: 443}},
		{"v6", at(firstV6(rules, 60_000))},
	}
	for _, tc := range cases {
		d := p.Decide(&tc.req, nil)
		if dn := p.DecideNaive(&tc.req); dn.Index != d.Index {
			b.Fatalf("%s: index %d, naive %d", tc.name, d.Index, dn.Index)
		}
		b.Run(fmt.Sprintf("%s-line%d", tc.name, d.Index), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Decide(&tc.req, nil)
			}
		})
	}
	// A spread of requests aimed at lines all over the file.
	var mixed []policy.Request
	for i := 0; i < len(rules); i += 997 {
		mixed = append(mixed, requestFor(&rules[i], byte(i)))
	}
	b.Run("mixed", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.Decide(&mixed[i%len(mixed)], nil)
			i++
		}
	})
}

func firstV6(rules []config.Rule, from int) int {
	for i := from; i < len(rules); i++ {
		if rules[i].Src.Kind == config.AddrMask && rules[i].Src.IP.Is6() {
			return i
		}
	}
	return from
}

// BenchmarkDecideNaive100k is the loop the index replaces, for comparison.
func BenchmarkDecideNaive100k(b *testing.B) {
	p := bigPolicy(b)
	req := requestFor(&p.Conf().Rules[50_000], 7)
	for b.Loop() {
		p.DecideNaive(&req)
	}
}

func BenchmarkNew100k(b *testing.B) {
	c := bigConf(100_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := policy.New(c, policy.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// The decision index must agree with the naive loop on the large
// configuration too, for requests aimed at lines all over it.
func TestIndexEqualsNaiveBig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 20,000-line configuration")
	}
	c := bigConf(20_000)
	p := mustNew(t, c, policy.Options{})
	for i := 0; i < len(c.Rules); i += 37 {
		for _, salt := range []byte{0, 7, 255} {
			req := requestFor(&c.Rules[i], salt)
			name := "pc" + c.Rules[i].Src.Pattern
			req.SrcNames = func() []string { return []string{name} }
			d, dn := p.Decide(&req, nil), p.DecideNaive(&req)
			if d.Index != dn.Index || d.Permit != dn.Permit {
				t.Fatalf("line %d salt %d: index %d, naive %d", i, salt, d.Index, dn.Index)
			}
			if d.Index > i {
				t.Fatalf("line %d salt %d: decided by later line %d", i, salt, d.Index)
			}
		}
	}
}

// The index must keep the candidate lists short on a realistic large
// configuration: a machine-independent check of what the benchmark measures.
func TestIndexCandidatesFew(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-line configuration")
	}
	c := bigConf(100_000)
	p := mustNew(t, c, policy.Options{})
	total, worst, n := 0, 0, 0
	for i := 0; i < len(c.Rules); i += 101 {
		req := requestFor(&c.Rules[i], byte(i))
		k := p.CandidateCount(&req)
		total, worst, n = total+k, max(worst, k), n+1
	}
	t.Logf("candidates per request: average %.1f, worst %d, over %d requests", float64(total)/float64(n), worst, n)
	if total > 8*n || worst > 64 {
		t.Errorf("index too coarse: average %.1f, worst %d candidates", float64(total)/float64(n), worst)
	}
}

func BenchmarkLint100k(b *testing.B) {
	c := bigConf(100_000)
	opts := policy.LintOptions{ReadFile: noFiles}
	for b.Loop() {
		policy.Lint(c, opts)
	}
}
