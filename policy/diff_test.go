package policy_test

import (
	"strings"
	"testing"

	"github.com/sockd/sockd/policy"
	"pgregory.net/rapid"
)

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
