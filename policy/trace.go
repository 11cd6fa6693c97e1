package policy

import (
	"fmt"
	"strings"

	"github.com/sockd/sockd/config"
)

// Tracer receives the steps of a decision, in order, when Decide is given
// one. The daemon passes nil; the simulator passes a Recorder.
type Tracer interface {
	Step(Step)
}

// Step is one event of a decision.
//
// For every line tried before the deciding one there is one step with
// Matched false and Field the FIRST condition that failed ("source",
// "destination", "user", "port"), Want the line's value and Got the
// request's. The deciding line gives a step with Field "rule", Matched true
// and Want its action; without one, a step with Index -1 and Field
// "default". Then, when they happen, a Field "identd" step (Want the claimed
// user, Got identd's answer or its error, Matched whether the request stays
// permitted) and Field "command" steps (Want the template, Got the expanded
// command, Note which line it comes from and why it was refused).
type Step struct {
	Index   int          // index in SockdConf.Rules, -1 for the implicit default
	Rule    *config.Rule // nil for the implicit default
	Matched bool
	Field   string
	Want    string
	Got     string
	Note    string
	// NearMiss marks a line that did not match only because of its last
	// condition (every condition before it matched): the lines an
	// operator most likely meant to match.
	NearMiss bool
}

// String renders a step on one line, for logs and simple tools.
func (s Step) String() string {
	var b strings.Builder
	if s.Rule != nil {
		fmt.Fprintf(&b, "line %d: ", s.Rule.Pos.Line)
	} else {
		b.WriteString("default: ")
	}
	if s.Field == "rule" || s.Field == "default" {
		b.WriteString(s.Note)
		return b.String()
	}
	verdict := "no match on"
	if s.Matched {
		verdict = "ok"
	}
	if s.Field == "identd" || s.Field == "command" {
		verdict = s.Field
	} else {
		verdict += " " + s.Field
	}
	fmt.Fprintf(&b, "%s: want %s, got %s", verdict, orDash(s.Want), orDash(s.Got))
	if s.Note != "" {
		b.WriteString(" (" + s.Note + ")")
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// Recorder is a Tracer that keeps every step.
type Recorder struct {
	Steps []Step
}

// Step implements Tracer.
func (r *Recorder) Step(s Step) { r.Steps = append(r.Steps, s) }

// traceMatch walks the lines in order up to the deciding one, reporting
// each line that failed and why.
func (p *Policy) traceMatch(st *evalState, t Tracer) int {
	for i := range p.rules {
		f := st.match(&p.rules[i])
		if f == fieldNone {
			return i
		}
		cr := &p.conf.Rules[i]
		want, got, note := describeFailure(st, cr, f)
		t.Step(Step{Index: i, Rule: cr, Field: f.String(), Want: want, Got: got, Note: note, NearMiss: f == lastField(&p.rules[i])})
	}
	return -1
}

// describeFailure explains why field f of line cr did not match.
func describeFailure(st *evalState, cr *config.Rule, f field) (want, got, note string) {
	req := st.req
	switch f {
	case fieldSource:
		want = AddrString(cr.Src)
		got = req.SrcIP.String()
		if cr.Src.Kind == config.AddrPattern {
			got = namesString(st.sourceNames(), req.SrcIP.String())
			if len(st.sourceNames()) == 0 {
				note = "the client has no confirmed host name"
			}
		} else if note = familyNote(cr.Src, st.src); note == "" && req.SrcIP.Is4In6() {
			note = "IPv4-mapped address compared as " + req.SrcIP.Unmap().String()
		}
	case fieldDestination:
		want = AddrString(cr.Dst)
		got = destinationString(req)
		if cr.Dst.Kind == config.AddrPattern {
			var names []string
			if req.DstName != "" {
				names = append(names, req.DstName)
			}
			names = append(names, st.destinationNames()...)
			got = namesString(names, got)
			if len(names) == 0 {
				note = "the destination has no known host name"
			}
		} else if !req.DstIP.IsValid() {
			note = "the destination is known only by name, which never matches a non-zero mask"
		} else {
			note = familyNote(cr.Dst, st.dst)
		}
	case fieldUser:
		want = "*=" + strings.Join(cr.Users, ",")
		got = fmt.Sprintf("%q", req.User)
		note = "user ids are compared exactly, case-sensitively"
	case fieldPort:
		want = PortString(cr.Port)
		got = fmt.Sprint(req.DstPort)
	}
	return want, got, note
}

func familyNote(a config.Addr, got addr128) string {
	if a.Kind != config.AddrMask || got.fam == 0 {
		return ""
	}
	want4 := a.IP.Unmap().Is4() && a.Mask.Unmap().Is4()
	if want4 && got.fam == 6 {
		return "an IPv4 rule never matches an IPv6 address"
	}
	if !want4 && got.fam == 4 && a.IP.Is6() && !a.IP.Is4In6() {
		return "an IPv6 rule never matches an IPv4 address"
	}
	return ""
}

func destinationString(req *Request) string {
	switch {
	case req.DstIP.IsValid() && req.DstName != "":
		return req.DstName + " (" + req.DstIP.String() + ")"
	case req.DstIP.IsValid():
		return req.DstIP.String()
	case req.DstName != "":
		return req.DstName
	}
	return "(none)"
}

func namesString(names []string, fallback string) string {
	if len(names) == 0 {
		return fallback
	}
	return strings.Join(names, ", ")
}

// AddrString renders an address field as sockd.conf spells it: "addr mask",
// "addr/len" when written so, a pattern with its ignored mask omitted, or
// "0.0.0.0 0.0.0.0" for an omitted pair.
func AddrString(a config.Addr) string {
	switch a.Kind {
	case config.AddrMask:
		if a.CIDR {
			if bits, ok := prefixLen(a.Mask); ok {
				return fmt.Sprintf("%s/%d", a.IP, bits)
			}
		}
		return a.IP.String() + " " + a.Mask.String()
	case config.AddrPattern:
		return a.Pattern
	}
	return "0.0.0.0 0.0.0.0"
}

// PortString renders a port test: "lt 1024", "eq telnet", or "any" when the
// line has none.
func PortString(pt config.PortTest) string {
	if pt.Op == config.OpNone {
		return "any"
	}
	if pt.Service != "" {
		return fmt.Sprintf("%s %s (%d)", pt.Op, pt.Service, pt.Port)
	}
	return fmt.Sprintf("%s %d", pt.Op, pt.Port)
}
