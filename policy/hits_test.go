package policy_test

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/policy"
)

func TestHitsCountPerLine(t *testing.T) {
	conf := &config.SockdConf{Rules: []config.Rule{
		{Pos: config.Pos{Line: 1}, Action: config.Deny, Src: config.Addr{Kind: config.AddrMask,
			IP: netip.MustParseAddr("10.0.0.1"), Mask: netip.MustParseAddr("255.255.255.255")}},
		{Pos: config.Pos{Line: 2}, Action: config.Permit, Src: config.Addr{Kind: config.AddrMask,
			IP: netip.MustParseAddr("10.0.0.0"), Mask: netip.MustParseAddr("255.0.0.0")}},
	}}
	p, err := policy.New(conf, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := policy.NewHits(len(conf.Rules), time.Now())
	now := time.Unix(1000, 0)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 100; k++ {
				for _, src := range []string{"10.0.0.1", "10.0.0.2", "192.0.2.1"} {
					req := policy.Request{Command: policy.CmdConnect, SrcIP: netip.MustParseAddr(src), DstIP: netip.MustParseAddr("192.0.2.9")}
					if k%2 == 1 {
						req.Command = policy.CmdBind
					}
					d := p.Decide(&req, nil)
					h.Record(&d, req.Command, now)
				}
			}
		}()
	}
	wg.Wait()
	want := []policy.LineHits{
		{Refused: [3]uint64{200, 200, 0}, Last: now.UTC()},
		{Permitted: [3]uint64{200, 200, 0}, Last: now.UTC()},
		{Refused: [3]uint64{200, 200, 0}, Last: now.UTC()},
	}
	for i, w := range want {
		idx := i
		if i == 2 {
			idx = -1
		}
		if got := h.Line(idx); got != w {
			t.Errorf("line index %d: %+v, want %+v", idx, got, w)
		}
	}
	var nilHits *policy.Hits
	d := p.Decide(&policy.Request{SrcIP: netip.MustParseAddr("10.0.0.2")}, nil)
	nilHits.Record(&d, policy.CmdConnect, now) // no panic
}

// TestHitsReport: the SIGUSR1 dump names every line with its counts and
// text, then the implicit deny; a nil *Hits reports nothing.
func TestHitsReport(t *testing.T) {
	rules := []config.Rule{{Pos: config.Pos{Line: 3}, Text: "  permit 10.0.0.0 255.0.0.0\n"}}
	h := policy.NewHits(len(rules), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	h.Record(&policy.Decision{Index: 0, Permit: true}, policy.CmdUDP, time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC))
	h.Record(&policy.Decision{Index: -1}, policy.CmdConnect, time.Date(2026, 1, 2, 5, 0, 0, 0, time.UTC))
	want := []string{
		"rule hits since 2026-01-02T03:04:05Z (start or reload)",
		"hits: line 3: permitted 1 (connect 0, bind 0, udp 1), refused 0 (connect 0, bind 0, udp 0), last 2026-01-02T04:00:00Z -- permit 10.0.0.0 255.0.0.0",
		"hits: default: permitted 0 (connect 0, bind 0, udp 0), refused 1 (connect 1, bind 0, udp 0), last 2026-01-02T05:00:00Z -- implicit deny",
	}
	if got := h.Report(rules); !slices.Equal(got, want) {
		t.Errorf("Report =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := (policy.LineHits{}).String(); got != "permitted 0 (connect 0, bind 0, udp 0), refused 0 (connect 0, bind 0, udp 0), last never" {
		t.Errorf("no hits: %q", got)
	}
	var nilHits *policy.Hits
	if got := nilHits.Report(rules); got != nil {
		t.Errorf("nil Hits reported %q", got)
	}
}

// BenchmarkHitsRecord is what counting adds to each decision.
func BenchmarkHitsRecord(b *testing.B) {
	h := policy.NewHits(100_000, time.Now())
	d := policy.Decision{Index: 4242, Permit: true}
	now := time.Now() // the daemon passes the session's accept time
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Record(&d, policy.CmdConnect, now)
		}
	})
}
