package shadow

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/policy"
)

// loadText writes rules to a candidate file and loads it.
func loadText(t *testing.T, rules string) (path string, c *Candidate, err error) {
	t.Helper()
	path = testnet.WriteFileT(t, "candidate.conf", rules)
	c, err = Load(path, load.Options{}, policy.Options{})
	return path, c, err
}

// TestDecide: agreement says nothing, a disagreement names both deciding
// lines, and every decision is counted by its (live, candidate) pair.
func TestDecide(t *testing.T) {
	t.Parallel()
	path, c, err := loadText(t, "deny 10.0.0.1 255.255.255.255\npermit 10.0.0.0 255.0.0.0\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 2 || c.Origin().Path != path {
		t.Fatalf("loaded %d lines from %q", c.Len(), c.Origin().Path)
	}
	req := func(src string) *policy.Request {
		return &policy.Request{Command: policy.CmdConnect, SrcIP: netip.MustParseAddr(src), DstIP: netip.MustParseAddr("192.0.2.1"), DstPort: 80}
	}
	livePermit := &policy.Decision{Permit: true, Index: -1}
	if diff := c.Decide(req("10.0.0.2"), livePermit); diff != "" {
		t.Errorf("agreement reported %q", diff)
	}
	if diff, want := c.Decide(req("10.0.0.1"), livePermit), "live permit default, candidate deny line 1"; diff != want {
		t.Errorf("disagreement %q, want %q", diff, want)
	}
	if diff, want := c.Decide(req("10.0.0.3"), &policy.Decision{Index: -1}), "live deny default, candidate permit line 2"; diff != want {
		t.Errorf("disagreement %q, want %q", diff, want)
	}
	if got, want := c.Counts(), [2][2]uint64{{1, 1}, {1, 0}}; got != want {
		t.Errorf("counts %v, want %v", got, want)
	}
	var none *Candidate
	if diff := none.Decide(req("10.0.0.1"), livePermit); diff != "" {
		t.Errorf("a nil candidate reported %q", diff)
	}
}

// TestLoadRefusesBadCandidate: a candidate that does not compile fails the
// load, named as --shadow's.
func TestLoadRefusesBadCandidate(t *testing.T) {
	t.Parallel()
	if _, _, err := loadText(t, "permit 127.0.0.0\n"); err == nil || !strings.HasPrefix(err.Error(), "--shadow: ") {
		t.Fatalf("Load of a bad candidate: %v", err)
	}
}
