package auth

import (
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
