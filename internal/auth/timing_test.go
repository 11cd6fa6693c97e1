package auth

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestVerifyCostsTheSameForUnknownUsers: an unknown user, a known user
// with a wrong password and an over-long password all pay one bcrypt
// comparison at the file's cost, so timing does not reveal who exists.
func TestVerifyCostsTheSameForUnknownUsers(t *testing.T) {
	const cost = 6 // a few ms per comparison: far above scheduling noise
	path := filepath.Join(t.TempDir(), "passwd")
	if err := SetPassword(path, "alice", "right", cost); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := bcrypt.Cost(p.dummy); err != nil || c != cost {
		t.Fatalf("dummy hash cost %d (%v), want the file's %d", c, err, cost)
	}
	median := func(f func()) time.Duration {
		var ds []time.Duration
		for range 7 {
			start := time.Now()
			f()
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	known := median(func() { p.Verify("alice", "wrong") })
	unknown := median(func() { p.Verify("mallory", "wrong") })
	long := median(func() { p.Verify("alice", strings.Repeat("x", 100)) })
	t.Logf("median Verify: known user %v, unknown user %v, over-long password %v", known, unknown, long)
	for name, d := range map[string]time.Duration{"unknown user": unknown, "over-long password": long} {
		if d < known/3 {
			t.Errorf("%s answered in %v, a known user in %v: the difference tells users apart", name, d, known)
		}
	}
}

// TestDummyHashHasTheHighestCost: with hashes of different costs in one
// file, an unknown user is compared against a dummy hash of the highest
// cost, wherever its line is (issue 18, defect 9). The equality is checked
// on the costs, which fix bcrypt's work, rather than on wall-clock times.
func TestDummyHashHasTheHighestCost(t *testing.T) {
	for _, order := range [][]int{{4, 7}, {7, 4}, {5, 7, 4}} {
		path := filepath.Join(t.TempDir(), "passwd")
		highest := 0
		for i, cost := range order {
			if err := SetPassword(path, fmt.Sprintf("user%d", i), "pw", cost); err != nil {
				t.Fatal(err)
			}
			highest = max(highest, cost)
		}
		p, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := bcrypt.Cost(p.dummy); err != nil || c != highest {
			t.Errorf("costs %v: dummy hash cost %d (%v), want the highest, %d", order, c, err, highest)
		}
	}
}
