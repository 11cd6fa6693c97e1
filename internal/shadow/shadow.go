// Package shadow is the daemon's shadow mode (sockd --shadow FILE): every
// live request is also decided under candidate rules. The live decision
// stays in force; a disagreement (one permits, the other refuses) is
// reported once per request, naming both deciding lines, and every shadow
// decision is counted by its (live, candidate) outcome. Agreement reports
// nothing.
//
// The candidate never asks identd itself (a query costs up to the identd
// timeout and the client would see it): it gets the live decision's answer
// when the live rules asked, and otherwise identd is taken to agree with
// the claimed user. Name patterns of the candidate cost the DNS lookups
// they need, as they would live.
//
// What this package does not do: deciding is policy's (policy.Decide, one
// function for the daemon and every tool); the log line and the session
// that feeds it are internal/server's; the counts reach Prometheus as
// sockd_shadow_decisions_total through internal/metrics. To compare two
// rule files without traffic, see sockd diff and replay (internal/replay).
package shadow

import (
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/policy"
)

// Candidate is the candidate rules, loaded with the live snapshot and
// reloaded with it on SIGHUP, and the counts of its decisions. It is safe
// for concurrent use.
type Candidate struct {
	policy *policy.Policy
	origin load.Origin
	// counts[live][candidate], 0 permit, 1 deny
	counts [2][2]atomic.Uint64
}

// Load compiles the candidate file with the options of the live rules; a
// bad candidate fails the load (and so the reload, or -t) like a bad rule
// file.
func Load(path string, g load.Options, opts policy.Options) (*Candidate, error) {
	conf, origin, err := load.Sockd(path, g)
	if err != nil {
		return nil, fmt.Errorf("--shadow: %w", err)
	}
	p, err := policy.New(conf, opts)
	if err != nil {
		return nil, fmt.Errorf("--shadow: %w", err)
	}
	return &Candidate{policy: p, origin: origin}, nil
}

// Origin is the candidate file as loaded.
func (c *Candidate) Origin() load.Origin { return c.origin }

// Len is the number of the candidate's rule lines.
func (c *Candidate) Len() int { return len(c.policy.Conf().Rules) }

// Decide decides req under the candidate, counts the pair of outcomes, and
// describes a disagreement with the live decision d ("live permit line 1,
// candidate deny default"); it returns "" when both agree. A nil
// *Candidate decides nothing.
func (c *Candidate) Decide(req *policy.Request, d *policy.Decision) string {
	if c == nil {
		return ""
	}
	sreq := *req
	if d.IdentAsked() {
		user, err := d.IdentUser, d.IdentErr
		sreq.Ident = func() (string, error) { return user, err }
	} else {
		user := req.User
		sreq.Ident = func() (string, error) { return user, nil }
	}
	cd := c.policy.Decide(&sreq, nil)
	live, cand := verdictIndex(d.Permit), verdictIndex(cd.Permit)
	c.counts[live][cand].Add(1)
	if live == cand {
		return ""
	}
	return "live " + side(d) + ", candidate " + side(&cd)
}

// Counts returns the decisions counted so far, indexed [live][candidate]
// with 0 for permit and 1 for deny.
func (c *Candidate) Counts() (n [2][2]uint64) {
	for l := range 2 {
		for k := range 2 {
			n[l][k] = c.counts[l][k].Load()
		}
	}
	return n
}

func verdictIndex(permit bool) int {
	if permit {
		return 0
	}
	return 1
}

func side(d *policy.Decision) string {
	verdict := "deny"
	if d.Permit {
		verdict = "permit"
	}
	if d.Rule == nil {
		return verdict + " default"
	}
	return verdict + " line " + strconv.Itoa(d.Rule.Pos.Line)
}
