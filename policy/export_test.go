package policy

// DecideNaive exposes the reference first-match loop to the external tests.
func (p *Policy) DecideNaive(req *Request) Decision { return p.decideNaive(req) }
