package server

import (
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/policy"
)

// Shadow mode (--shadow FILE): every live request is also decided under
// candidate rules. The live decision stays in force; a disagreement (one
// permits, the other refuses) is logged once per request, naming both
// deciding lines, and every shadow decision is counted by its (live,
// candidate) outcome. Agreement logs nothing.
//
// The candidate never asks identd itself (a query costs up to the identd
// timeout and the client would see it): it gets the live decision's answer
// when the live rules asked, and otherwise identd is taken to agree with
// the claimed user. Name patterns of the candidate cost the DNS lookups
// they need, as they would live.

// shadowSnap is the candidate, loaded with the snapshot and reloaded with
// it on SIGHUP.
type shadowSnap struct {
	policy *policy.Policy
	origin load.Origin
	// counts[live][candidate], 0 permit, 1 deny
	counts [2][2]atomic.Uint64
}

// loadShadow compiles --shadow FILE into snap; a bad candidate fails the
// load (and so the reload, or -t) like a bad rule file.
func (s *Server) loadShadow(snap *snapshot) error {
	if s.opts.ShadowPath == "" {
		return nil
	}
	conf, origin, err := load.Sockd(s.opts.ShadowPath, s.opts.GrammarOptions)
	if err != nil {
		return fmt.Errorf("--shadow: %w", err)
	}
	p, err := policy.New(conf, policy.Options{IdentMode: s.opts.IdentMode, Pid: s.pid})
	if err != nil {
		return fmt.Errorf("--shadow: %w", err)
	}
	snap.shadow = &shadowSnap{policy: p, origin: origin}
	return nil
}

// shadowDecide decides req under the candidate and reports a
// disagreement with the live decision d.
func (ss *session) shadowDecide(req *policy.Request, d *policy.Decision, lr *logline.Request) {
	sh := ss.snap.shadow
	if sh == nil {
		return
	}
	sreq := *req
	if d.IdentAsked {
		user, err := d.IdentUser, d.IdentErr
		sreq.Ident = func() (string, error) { return user, err }
	} else {
		user := req.User
		sreq.Ident = func() (string, error) { return user, nil }
	}
	cd := sh.policy.Decide(&sreq, nil)
	live, cand := verdictIndex(d.Permit), verdictIndex(cd.Permit)
	sh.counts[live][cand].Add(1)
	if live == cand {
		return
	}
	ss.s.log.Warn(fmt.Sprintf("shadow: live %s, candidate %s -- %s", shadowSide(d), shadowSide(&cd), lr.Msg()),
		"client", ss.src.String(), "file", ss.snap.origin.Path, "candidate", sh.origin.Path)
}

func verdictIndex(permit bool) int {
	if permit {
		return 0
	}
	return 1
}

func shadowSide(d *policy.Decision) string {
	verdict := "deny"
	if d.Permit {
		verdict = "permit"
	}
	if d.Rule == nil {
		return verdict + " default"
	}
	return verdict + " line " + strconv.Itoa(d.Rule.Pos.Line)
}
