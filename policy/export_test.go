package policy

import "github.com/sockd/sockd/config"

// DecideNaive exposes the reference first-match loop to the external tests.
func (p *Policy) DecideNaive(req *Request) Decision { return p.decideNaive(req) }

// CandidateCount is how many lines the index offers for req: the work a
// decision does in the worst case, independent of the machine's speed.
func (p *Policy) CandidateCount(req *Request) int {
	st := newEvalState(req)
	return len(p.idx.candidates(st.src, st.dst))
}

// LintVerdicts exposes the analysis behind Lint: the lines found shadowed
// or never matching (they can never decide) and, for each line found
// redundant, the later line that makes it so.
func LintVerdicts(conf *config.SockdConf, opts LintOptions) (dead map[int]bool, redundant map[int]int) {
	dead, redundant = map[int]bool{}, map[int]int{}
	for _, f := range lintFindings(conf, opts) {
		switch f.kind {
		case findShadowed, findNeverMatches:
			dead[f.index] = true
		case findRedundant:
			redundant[f.index] = f.other
		}
	}
	return dead, redundant
}

// Covers reports whether a region of the diff holds req.
func (r *DiffResult) Covers(req *Request) bool { return r.covers(req) }

// ActionOf names the action of the line that made d (the implicit deny
// for -1): what Diff compares.
func (p *Policy) ActionOf(d Decision) string { return p.actionName(d.Index) }
