package policy_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/benchdata"
	"github.com/sockd/sockd/policy"
)

// editedConf is bigConf(n) after a typical change: a line inserted at the
// top, a few lines removed, a few actions flipped, a port widened.
func editedConf(n int) (*config.SockdConf, *config.SockdConf) {
	old := bigConf(n)
	nw := &config.SockdConf{Source: "new.conf", Rules: slices.Clone(old.Rules)}
	for _, k := range []int{n / 7, n / 3, n / 2, 2 * n / 3} {
		nw.Rules[k].Action = 1 - nw.Rules[k].Action
	}
	nw.Rules[n/5].Port = config.PortTest{Op: config.OpGE, Port: 1}
	nw.Rules = slices.Delete(nw.Rules, n/4, n/4+3)
	top := config.Rule{Action: config.Deny, Text: "deny inserted",
		Src: config.Addr{Kind: config.AddrMask, IP: netip.MustParseAddr("10.9.0.0"), Mask: netip.MustParseAddr("255.255.0.0")}}
	nw.Rules = append([]config.Rule{top}, nw.Rules...)
	for i := range nw.Rules {
		nw.Rules[i].Pos = config.Pos{Line: i + 1, Col: 1}
	}
	return old, nw
}

// BenchmarkDiff10k diffs two 10,000-line files that differ by a handful
// of edits (the issue asks for under 10 s).
func BenchmarkDiff10k(b *testing.B) {
	oc, nc := editedConf(10000)
	op, err := policy.New(oc, policy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	np, err := policy.New(nc, policy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	benchdata.Diff(b, op, np)
}
