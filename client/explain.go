package client

import (
	"fmt"
	"io"
	"strings"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/policy"
)

// Explain writes how a plan reaches its destination, and why, for people:
// the deciding socks.conf line, the lines tried before it (when the plan
// was traced), and for a sockd line every candidate server in order with
// how it is itself reached.
func (r *Route) Explain(w io.Writer) {
	r.explain(w, "")
	if chains := r.Chains(); len(chains) > 0 {
		fmt.Fprintln(w, "chains, tried in order:")
		for _, c := range chains {
			fmt.Fprintf(w, "  %s -> %s\n", pathString(c), r.Target)
		}
	}
}

func (r *Route) explain(w io.Writer, ind string) {
	d := r.Decision
	what := map[config.ClientAction]string{config.ClientDirect: "DIRECT", config.ClientDeny: "DENIED",
		config.ClientSockd: "THROUGH UPSTREAM"}[d.Action]
	fmt.Fprintf(w, "%sroute to %s: %s\n", ind, r.Target, what)
	if d.Rule != nil {
		fmt.Fprintf(w, "%s  deciding line: %d: %s\n", ind, d.Rule.Pos.Line, strings.TrimSpace(d.Rule.Text))
	} else {
		fmt.Fprintf(w, "%s  why: %s\n", ind, d.Reason)
	}
	for _, st := range r.Trace {
		if st.Field == "rule" || st.Field == "default" || st.Field == "command" {
			continue
		}
		fmt.Fprintf(w, "%s  line %d tried: %s does not match: wanted %s, destination has %s\n", ind,
			lineOf(r, st), st.Field, st.Want, st.Got)
	}
	if d.Command != "" {
		fmt.Fprintf(w, "%s  shell command: %s\n", ind, d.Command)
	}
	if r.Err != nil {
		fmt.Fprintf(w, "%s  cannot be used: %v\n", ind, r.Err)
	}
	for i, h := range r.Via {
		cred := "no credentials"
		if h.Upstream.User != "" || h.Upstream.Password != "" {
			cred = "credentials for user " + h.Upstream.User
		}
		fmt.Fprintf(w, "%s  upstream %d: %s (%s)\n", ind, i+1, h.Upstream, cred)
		h.Route.explain(w, ind+"    ")
	}
}

// lineOf turns a step's index in the file's rules into the line number
// people read.
func lineOf(r *Route, st policy.Step) int {
	if r.rules != nil {
		if cr := r.rules.ClientStepRule(st); cr != nil {
			return cr.Pos.Line
		}
	}
	return st.Index + 1
}

// Chains lists the chains a plan would try, in order (first hop first);
// none for a direct or refused route.
func (r *Route) Chains() [][]Upstream {
	if r.Err != nil || r.Decision.Action != config.ClientSockd {
		return nil
	}
	var out [][]Upstream
	for _, h := range r.Via {
		sub := h.Route.Chains()
		switch {
		case h.Route.Err != nil || h.Route.Decision.Action == config.ClientDeny:
			continue
		case h.Route.Decision.Action == config.ClientDirect:
			out = append(out, []Upstream{h.Upstream})
		default:
			for _, c := range sub {
				out = append(out, append(append([]Upstream{}, c...), h.Upstream))
			}
		}
	}
	return out
}

// RouteJSON is the JSON form of a Route.
type RouteJSON struct {
	Target  string    `json:"target"`
	Action  string    `json:"action"` // direct, deny or sockd
	Line    int       `json:"line"`   // 0: no line decided
	Text    string    `json:"text,omitempty"`
	Reason  string    `json:"reason"`
	Command string    `json:"command,omitempty"`
	Error   string    `json:"error,omitempty"`
	Via     []HopJSON `json:"via,omitempty"`
	Chains  []string  `json:"chains,omitempty"`
}

// HopJSON is one candidate server of a RouteJSON.
type HopJSON struct {
	Upstream string    `json:"upstream"`
	User     string    `json:"user,omitempty"`
	Route    RouteJSON `json:"route"`
}

// JSON returns the JSON form of the plan; credentials appear as the user
// name only.
func (r *Route) JSON() RouteJSON {
	j := RouteJSON{Target: r.Target.String(), Action: r.Decision.Action.String(), Reason: r.Decision.Reason,
		Command: r.Decision.Command}
	if r.Decision.Rule != nil {
		j.Line, j.Text = r.Decision.Rule.Pos.Line, strings.TrimSpace(r.Decision.Rule.Text)
	}
	if r.Err != nil {
		j.Error = r.Err.Error()
	}
	for _, h := range r.Via {
		j.Via = append(j.Via, HopJSON{Upstream: h.Upstream.String(), User: h.Upstream.User, Route: h.Route.JSON()})
	}
	for _, c := range r.Chains() {
		j.Chains = append(j.Chains, pathString(c))
	}
	return j
}
