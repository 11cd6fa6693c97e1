package simulate

// How sockd simulate words one decision for a person: the trace, its
// summary for long files, and the lines after the verdict.

import (
	"fmt"
	"strings"

	"github.com/sockd/sockd/policy"
)

// SummaryAfter is how many lines tried a trace lists in full by default.
const SummaryAfter = 20

// summarizeTrace keeps, when more than SummaryAfter lines were tried
// before the decision, only the near misses among them (lines that failed
// only on their last condition), and counts the rest: a 100,000-line file's trace stays
// readable. The steps after the lines tried are kept.
func summarizeTrace(steps []policy.Step) ([]policy.Step, int) {
	tried := 0
	for _, st := range steps {
		if isTried(st) {
			tried++
		}
	}
	if tried <= SummaryAfter {
		return steps, 0
	}
	var out []policy.Step
	omitted := 0
	for _, st := range steps {
		if isTried(st) && !st.NearMiss {
			omitted++
			continue
		}
		out = append(out, st)
	}
	return out, omitted
}

func isTried(st policy.Step) bool {
	return st.Rule != nil && !st.Matched && st.Field != "rule" && st.Field != "default" && st.Field != "identd" && st.Field != "command"
}

// writeHuman prints one decision like a packet tracer.
func (s *Simulator) writeHuman(res Result, steps []policy.Step) {
	w := s.Out
	verdict := "PERMITTED"
	if res.Decision != "permit" {
		verdict = "REFUSED"
	}
	fmt.Fprintf(w, "%s: reply %d (%s)\n", verdict, res.Reply, reply4Text[byte(res.Reply)])
	if res.Line > 0 {
		fmt.Fprintf(w, "deciding line: %s:%d: %s\n", res.File, res.Line, strings.TrimSpace(res.Text))
	} else {
		fmt.Fprintf(w, "deciding line: none (implicit default: no line matched, so the request is denied)\n")
	}
	tried := 0
	for _, st := range steps {
		if st.Field == "rule" || st.Field == "default" || st.Field == "identd" || st.Field == "command" || st.Rule == nil {
			continue
		}
		if tried == 0 && res.TraceOmitted > 0 {
			fmt.Fprintln(w, "near misses among the lines tried before it (lines that failed only on their last condition):")
		} else if tried == 0 {
			fmt.Fprintln(w, "lines tried before it:")
		}
		tried++
		fmt.Fprintf(w, "  %s:%d: %s\n", res.File, st.Rule.Pos.Line, strings.TrimSpace(st.Rule.Text))
		fmt.Fprintf(w, "      %s does not match: wanted %s, request has %s\n", st.Field, orQuoted(st.Want), orQuoted(st.Got))
	}
	if !s.Trace {
		fmt.Fprintln(w, "lines tried before it: (not traced: --no-trace)")
	}
	if res.TraceOmitted > 0 {
		if tried == 0 {
			fmt.Fprintln(w, "near misses among the lines tried before it: none")
		}
		lines := "lines"
		if res.TraceOmitted == 1 {
			lines = "line"
		}
		fmt.Fprintf(w, "  ... and %d other %s that failed before their last condition (--full-trace lists every line)\n", res.TraceOmitted, lines)
	}
	switch {
	case res.Identd == nil:
		fmt.Fprintln(w, "identd: not asked")
	case !res.Identd.Asked:
		fmt.Fprintf(w, "identd: not asked (mode %s)\n", res.Identd.Mode)
	case res.Identd.Error != "":
		fmt.Fprintf(w, "identd: asked (%s): no answer: %s\n", res.Identd.Mode, res.Identd.Error)
	default:
		fmt.Fprintf(w, "identd: asked (%s): answered %q\n", res.Identd.Mode, res.Identd.User)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if len(res.Command) == 0 {
		fmt.Fprintln(w, "shell command: none")
	}
	for _, c := range res.Command {
		fmt.Fprintf(w, "shell command: %s\n", c)
	}
	for _, a := range res.Assumed {
		fmt.Fprintf(w, "assumed: %s\n", a)
	}
	if res.route != nil {
		res.route.Explain(w)
	}
}

func orQuoted(s string) string {
	if s == "" {
		return `""`
	}
	return s
}
