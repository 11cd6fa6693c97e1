package policy

// DecideNaive exposes the reference first-match loop to the external tests.
func (p *Policy) DecideNaive(req *Request) Decision { return p.decideNaive(req) }

// CandidateCount is how many lines the index offers for req: the work a
// decision does in the worst case, independent of the machine's speed.
func (p *Policy) CandidateCount(req *Request) int {
	st := newEvalState(req)
	return len(p.idx.candidates(st.src, st.dst))
}
