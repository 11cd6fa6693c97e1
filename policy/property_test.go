package policy_test

import (
	"io/fs"
	"net/netip"
	"strings"
	"testing"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/policy"
	"pgregory.net/rapid"
)

// The indexed lookup, the traced walk and the naive first-match loop must
// make the same decision for every configuration and request; the index
// and the tracer may only ask the DNS hooks when the naive loop would.
func TestIndexEqualsNaive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genConf(t, 40)
		mode := policy.IdentMode(rapid.IntRange(0, 2).Draw(t, "global"))
		p, err := policy.New(c, policy.Options{ReadFile: readUserFile, IdentMode: mode, Pid: 1})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		for range 20 {
			req, calls := genRequest(t)
			dn := p.DecideNaive(&req)
			naive := *calls
			*calls = hookCalls{}
			di := p.Decide(&req, nil)
			indexed := *calls
			*calls = hookCalls{}
			var rec policy.Recorder
			dt := p.Decide(&req, &rec)
			traced := *calls
			if !sameDecision(dn, di) || !sameDecision(dn, dt) {
				t.Fatalf("decisions differ:\nnaive   %+v\nindexed %+v\ntraced  %+v", dn, di, dt)
			}
			if indexed.src > naive.src || indexed.dst > naive.dst || indexed.ident != naive.ident ||
				traced != naive {
				t.Fatalf("hook calls naive %+v indexed %+v traced %+v", naive, indexed, traced)
			}
			if naive.src > 1 || naive.dst > 1 || naive.ident > 1 {
				t.Fatalf("a hook was called more than once: %+v", naive)
			}
			checkTrace(t, p, rec.Steps, dt)
		}
	})
}

func sameDecision(a, b policy.Decision) bool {
	return a.Permit == b.Permit && a.Reply4 == b.Reply4 && a.Reply5 == b.Reply5 && a.Index == b.Index &&
		a.Rule == b.Rule && a.IdentAsked() == b.IdentAsked() && a.IdentUser == b.IdentUser &&
		a.Command == b.Command && a.CommandFrom == b.CommandFrom && a.PreCommand == b.PreCommand &&
		a.Ident == b.Ident && (a.IdentErr == nil) == (b.IdentErr == nil) &&
		(a.CommandErr == nil) == (b.CommandErr == nil)
}

// checkTrace: one failure step per line before the decider, in order, then
// the decider (or the default).
func checkTrace(t *rapid.T, p *policy.Policy, steps []policy.Step, d policy.Decision) {
	last := d.Index
	if last < 0 {
		last = len(p.Conf().Rules)
	}
	if len(steps) < last+1 {
		t.Fatalf("%d steps for decider %d", len(steps), d.Index)
	}
	for i := 0; i < last; i++ {
		s := steps[i]
		if s.Index != i || s.Matched || s.Field == "" || s.Rule != &p.Conf().Rules[i] {
			t.Fatalf("step %d = %+v", i, s)
		}
	}
	s := steps[last]
	if s.Index != d.Index || !s.Matched || (d.Index >= 0) != (s.Field == "rule") {
		t.Fatalf("decider step = %+v for decision index %d", s, d.Index)
	}
}

// Lint is conservative: a line it calls shadowed or never matching decides
// no request, and removing a line it calls redundant changes no decision.
func TestLintVerdictsHold(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genConf(t, 25)
		mode := policy.IdentMode(rapid.IntRange(0, 2).Draw(t, "global"))
		opts := policy.Options{ReadFile: readUserFile, IdentMode: mode}
		p, err := policy.New(c, opts)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		dead, redundant := policy.LintVerdicts(c, policy.LintOptions{ReadFile: readUserFile, Stat: noStat})
		without := map[int]*policy.Policy{}
		for i := range redundant {
			c2 := *c
			c2.Rules = append(append([]config.Rule(nil), c.Rules[:i]...), c.Rules[i+1:]...)
			without[i], err = policy.New(&c2, opts)
			if err != nil {
				t.Fatalf("New without line %d: %v", i, err)
			}
		}
		for range 40 {
			req, _ := genRequest(t)
			d := p.DecideNaive(&req)
			if dead[d.Index] {
				t.Fatalf("line %d was reported as never deciding but decides %+v", d.Index, req)
			}
			for i, p2 := range without {
				d2 := p2.DecideNaive(&req)
				if d.Permit != d2.Permit || d.Reply4 != d2.Reply4 || d.Command != d2.Command ||
					d.PreCommand != d2.PreCommand || d.IdentAsked() != d2.IdentAsked() || d.Ident != d2.Ident {
					t.Fatalf("removing redundant line %d (covered by %d) changed\n%+v\ninto\n%+v", i, redundant[i], d, d2)
				}
			}
		}
	})
}

// Lint must also report shadowing that exists: on configurations built to
// contain a covered line, it finds one.
func TestLintFindsPlantedShadow(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genConf(t, 10)
		if len(c.Rules) == 0 {
			return
		}
		i := rapid.IntRange(0, len(c.Rules)-1).Draw(t, "copy")
		dup := c.Rules[i]
		dup.Pos.Line = len(c.Rules) + 1
		c.Rules = append(c.Rules, dup)
		dead, _ := policy.LintVerdicts(c, policy.LintOptions{ReadFile: readUserFile, Stat: noStat})
		if !dead[len(c.Rules)-1] {
			t.Fatalf("a copy of line %d at the end is not reported", i)
		}
	})
}

func noStat(string) (fs.FileInfo, error) { return nil, fs.ErrNotExist }

// With many lines of a few shapes over a small address space, the index
// builds pair tables (32 lines of a shape and more), files lines with two
// networks of a rare shape under the less shared one, and puts several
// lines in one bucket: it must still decide as the naive loop does.
func TestDenseIndexEqualsNaive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		net := func(label string) config.Addr {
			plen := rapid.SampledFrom([]int{24, 24, 24, 16, 16, 8, 32, 0}).Draw(t, label+"len")
			ip := netip.AddrFrom4([4]byte{10, byte(rapid.IntRange(0, 2).Draw(t, label+"b")), byte(rapid.IntRange(0, 2).Draw(t, label+"c")), 1})
			p, _ := ip.Prefix(plen)
			mask, _ := netip.AddrFrom4([4]byte{255, 255, 255, 255}).Prefix(plen)
			if rapid.IntRange(0, 9).Draw(t, label+"any") == 0 {
				return config.Addr{Kind: config.AddrAny}
			}
			return config.Addr{Kind: config.AddrMask, IP: p.Addr(), Mask: mask.Addr(), CIDR: true}
		}
		c := &config.SockdConf{Source: "dense.conf"}
		for i := range rapid.IntRange(40, 160).Draw(t, "nrules") {
			r := config.Rule{Pos: config.Pos{Line: i + 1, Col: 1}, Action: config.Action(rapid.IntRange(0, 1).Draw(t, "act")),
				Src: net("src"), Dst: net("dst")}
			if rapid.Bool().Draw(t, "port") {
				r.Port = config.PortTest{Op: config.OpLT, Port: uint16(rapid.IntRange(1, 3).Draw(t, "port"))}
			}
			c.Rules = append(c.Rules, r)
		}
		p, err := policy.New(c, policy.Options{})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		addr := func(label string) netip.Addr {
			return netip.AddrFrom4([4]byte{10, byte(rapid.IntRange(0, 3).Draw(t, label+"b")), byte(rapid.IntRange(0, 3).Draw(t, label+"c")), byte(rapid.IntRange(0, 2).Draw(t, label+"d"))})
		}
		for range 40 {
			req := policy.Request{Command: policy.CmdConnect, SrcIP: addr("rsrc"), DstIP: addr("rdst"),
				DstPort: uint16(rapid.IntRange(0, 4).Draw(t, "rport"))}
			if d, dn := p.Decide(&req, nil), p.DecideNaive(&req); d.Index != dn.Index || d.Permit != dn.Permit {
				t.Fatalf("%v -> %v port %d: index %d, naive %d", req.SrcIP, req.DstIP, req.DstPort, d.Index, dn.Index)
			}
		}
	})
}

// A request for a name that DecideBeforeResolve decides without its
// address gets the same line, action and replies from Decide with every
// address the name could resolve to (and whatever reverse names that
// address has): the daemon may then skip the lookup, and `sockd simulate`
// (Decide) still says what the daemon does.
func TestDecideBeforeResolveAgreesWithDecide(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genConf(t, 40)
		p, err := policy.New(c, policy.Options{ReadFile: readUserFile, Pid: 1})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		for range 20 {
			req, _ := genRequest(t)
			if req.DstName == "" {
				continue
			}
			byName := req
			byName.DstIP = netip.Addr{}
			byName.DstNames = nil
			early, decided := p.DecideBeforeResolve(&byName)
			if !decided {
				continue
			}
			for i := range 3 {
				withIP := req
				withIP.DstIP = genRequestAddr(t, "resolved")
				names := genNames(t, "resolvednames")
				withIP.DstNames = func() []string { return names }
				d := p.Decide(&withIP, nil)
				if d.Index != early.Index || d.Permit != early.Permit || d.Reply4 != early.Reply4 || d.Reply5 != early.Reply5 {
					t.Fatalf("address %d (%v, names %v): Decide chose line %d (permit %v), DecideBeforeResolve line %d (permit %v)",
						i, withIP.DstIP, names, d.Index, d.Permit, early.Index, early.Permit)
				}
			}
		}
	})
}

// TestDiffProperty checks the diff both ways on random rule pairs: every
// region's example is decided differently by Decide, and every random
// request Decide decides differently lies in a reported region.
func TestDiffProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mode := policy.IdentMode(rapid.IntRange(0, 2).Draw(t, "mode"))
		oldC, newC := genConf(t, 6), genConf(t, 6)
		if rapid.Bool().Draw(t, "edit") && len(oldC.Rules) > 0 {
			// Most real diffs are small edits of one file.
			newC.Rules = append(append(newC.Rules[:0:0], oldC.Rules...), newC.Rules...)[:len(oldC.Rules)+rapid.IntRange(0, len(newC.Rules)).Draw(t, "keep")]
			if k := rapid.IntRange(0, len(newC.Rules)-1).Draw(t, "drop"); k < len(newC.Rules) {
				newC.Rules = append(newC.Rules[:k:k], newC.Rules[k+1:]...)
			}
		}
		if rapid.IntRange(0, 3).Draw(t, "specials") == 0 {
			newC.BadID.Command = "other %U"
		}
		opts := policy.Options{ReadFile: readUserFile, IdentMode: mode}
		oldP, err := policy.New(oldC, opts)
		if err != nil {
			t.Fatal(err)
		}
		newP, err := policy.New(newC, opts)
		if err != nil {
			t.Fatal(err)
		}
		res, err := policy.Diff(oldP, newP)
		if err != nil {
			for _, r := range oldC.Rules {
				t.Logf("old %+v", r)
			}
			for _, r := range newC.Rules {
				t.Logf("new %+v", r)
			}
			t.Fatal(err)
		}
		for _, pair := range res.Pairs {
			for _, r := range pair.Regions {
				od := oldP.Decide(r.Example.Request(), nil)
				nd := newP.Decide(r.Example.Request(), nil)
				if oldP.ActionOf(od) == newP.ActionOf(nd) {
					t.Fatalf("region %+v: example %s decided alike (%s)", r, strings.Join(r.Example.Args(), " "), oldP.ActionOf(od))
				}
				if !res.Covers(r.Example.Request()) {
					t.Fatalf("example %s outside the regions", strings.Join(r.Example.Args(), " "))
				}
			}
		}
		for k := 0; k < 50; k++ {
			req, _ := genRequest(t)
			r2 := req
			od := oldP.Decide(&req, nil)
			nd := newP.Decide(&r2, nil)
			differs := oldP.ActionOf(od) != newP.ActionOf(nd)
			if in := res.Covers(&req); in != differs {
				for _, r := range oldC.Rules {
					t.Logf("old %+v", r)
				}
				for _, r := range newC.Rules {
					t.Logf("new %+v", r)
				}
				for _, p := range res.Pairs {
					t.Logf("pair %+v", p)
				}
				t.Fatalf("request %+v: decided %q (line %d) and %q (line %d), but covered by a region: %v",
					req, oldP.ActionOf(od), od.Index, newP.ActionOf(nd), nd.Index, in)
			}
		}
	})
}
