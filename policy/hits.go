package policy

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sockd/sockd/config"
)

// Hits counts, per line, the requests each line decided: permitted and
// refused, per command, and when it last decided one. The daemon keeps one
// beside each compiled snapshot, so the counts run since start or the last
// reload. Recording is two atomic operations on the deciding line's own
// counters: no lock, nothing shared between lines.
type Hits struct {
	start time.Time
	lines []lineHits // one per line, then the implicit final deny
}

type lineHits struct {
	n    [2][3]atomic.Uint64 // [permitted, refused][connect, bind, udp]
	last atomic.Int64        // Unix nanoseconds; 0 never
}

// NewHits returns zero counters for a policy of n lines.
func NewHits(n int, start time.Time) *Hits {
	return &Hits{start: start, lines: make([]lineHits, n+1)}
}

// Start is when counting began.
func (h *Hits) Start() time.Time { return h.start }

// Len is the number of lines counted (without the implicit deny).
func (h *Hits) Len() int { return len(h.lines) - 1 }

// Record counts d, a decision of cmd made at now. A nil *Hits records
// nothing.
func (h *Hits) Record(d *Decision, cmd Command, now time.Time) {
	if h == nil {
		return
	}
	i := d.Index
	if i < 0 || i >= len(h.lines)-1 {
		i = len(h.lines) - 1
	}
	c := int(cmd) - 1
	if c < 0 || c > 2 {
		c = 0
	}
	verdict := 1
	if d.Permit {
		verdict = 0
	}
	l := &h.lines[i]
	l.n[verdict][c].Add(1)
	l.last.Store(now.UnixNano())
}

// LineHits is one line's counts; index the arrays by Command-1.
type LineHits struct {
	Permitted, Refused [3]uint64
	Last               time.Time // zero: never
}

// Total is every request the line decided.
func (l LineHits) Total() uint64 {
	var t uint64
	for c := range 3 {
		t += l.Permitted[c] + l.Refused[c]
	}
	return t
}

// Line returns line i's counts (index in the rules; -1 the implicit deny).
func (h *Hits) Line(i int) LineHits {
	if i < 0 || i >= len(h.lines)-1 {
		i = len(h.lines) - 1
	}
	l := &h.lines[i]
	var out LineHits
	for c := range 3 {
		out.Permitted[c] = l.n[0][c].Load()
		out.Refused[c] = l.n[1][c].Load()
	}
	if ns := l.last.Load(); ns != 0 {
		out.Last = time.Unix(0, ns).UTC()
	}
	return out
}

// String is the line's counts as the daemon logs them: "permitted N
// (connect N, bind N, udp N), refused N (...), last TIME" (or "last never").
func (l LineHits) String() string {
	count := func(n [3]uint64) string {
		return fmt.Sprintf("%d (connect %d, bind %d, udp %d)", n[0]+n[1]+n[2], n[0], n[1], n[2])
	}
	last := "never"
	if !l.Last.IsZero() {
		last = l.Last.Format(time.RFC3339)
	}
	return "permitted " + count(l.Permitted) + ", refused " + count(l.Refused) + ", last " + last
}

// Report is the counts as the daemon logs them on SIGUSR1: a heading, then
// every line of rules (the lines h counts) with its counts beside it, then
// the implicit deny. A nil *Hits reports nothing.
func (h *Hits) Report(rules []config.Rule) []string {
	if h == nil {
		return nil
	}
	out := make([]string, 0, len(rules)+2)
	out = append(out, "rule hits since "+h.Start().UTC().Format(time.RFC3339)+" (start or reload)")
	for i := range rules {
		r := &rules[i]
		out = append(out, fmt.Sprintf("hits: line %d: %s -- %s", r.Pos.Line, h.Line(i), strings.TrimSpace(r.Text)))
	}
	return append(out, "hits: default: "+h.Line(-1).String()+" -- implicit deny")
}
