package server

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sockd/sockd/policy"
)

// Per-line hit counters: each snapshot carries a policy.Hits, so the
// counts run since start or the last reload, and counting is two atomic
// operations on the deciding line (no lock, no allocation).

// recordHit counts one decision. The session's accept time stands for the
// decision's time (the request is decided moments later) so that counting
// does not read the clock; a UDP association decides during its whole
// life, so its datagram checks do.
func (ss *session) recordHit(req *policy.Request, d *policy.Decision) {
	now := ss.start
	if req.Command == policy.CmdUDP {
		now = time.Now()
	}
	ss.snap.hits.Record(d, req.Command, now)
}

// newHits gives a freshly loaded snapshot its zero counters.
func newHits(snap *snapshot) {
	snap.hits = policy.NewHits(len(snap.conf.Rules), time.Now())
}

// dumpHits logs every line with its counts beside it (SIGUSR1).
func (s *Server) dumpHits(snap *snapshot) {
	h := snap.hits
	if h == nil {
		return
	}
	s.log.Info("rule hits since "+h.Start().UTC().Format(time.RFC3339)+" (start or reload)", "file", snap.origin.Path)
	for i := range snap.conf.Rules {
		r := &snap.conf.Rules[i]
		s.log.Info(fmt.Sprintf("hits: line %d: %s -- %s", r.Pos.Line, hitsText(h.Line(i)), strings.TrimSpace(r.Text)), "file", snap.origin.Path)
	}
	s.log.Info("hits: default: "+hitsText(h.Line(-1))+" -- implicit deny", "file", snap.origin.Path)
}

func hitsText(l policy.LineHits) string {
	count := func(n [3]uint64) string {
		return fmt.Sprintf("%d (connect %d, bind %d, udp %d)", n[0]+n[1]+n[2], n[0], n[1], n[2])
	}
	last := "never"
	if !l.Last.IsZero() {
		last = l.Last.Format(time.RFC3339)
	}
	return "permitted " + count(l.Permitted) + ", refused " + count(l.Refused) + ", last " + last
}

// MaxHitSeries caps the series of sockd_rule_hits_total: a scrape of a
// 100,000-line file would otherwise carry up to 200,000 series. Lines are
// exposed in file order while the cap allows; the hits of the lines beyond
// it are summed in line="other". Lines that decided nothing have no series.
const MaxHitSeries = 1000

// hitsCollector exposes the counters of the snapshot in force at scrape
// time.
type hitsCollector struct {
	s          *Server
	desc       *prometheus.Desc
	shadowDesc *prometheus.Desc // shadow.go
}

func newHitsCollector(s *Server) *hitsCollector {
	return &hitsCollector{s: s, desc: prometheus.NewDesc("sockd_rule_hits_total",
		"Requests decided by each rule line since start or reload, by line (the line number, default for the implicit deny, other beyond the first "+
			strconv.Itoa(MaxHitSeries)+" series) and action (permit, deny: the outcome, identd refusals included).",
		[]string{"line", "action"}, nil),
		shadowDesc: prometheus.NewDesc("sockd_shadow_decisions_total",
			"Requests decided under the --shadow candidate since start or reload, by live and candidate outcome (permit, deny).",
			[]string{"live", "candidate"}, nil)}
}

func (c *hitsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc; ch <- c.shadowDesc }

func (c *hitsCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.s.snap.Load()
	h := snap.hits
	if h == nil {
		return
	}
	var otherP, otherD uint64
	series := 0
	emit := func(line string, l policy.LineHits) {
		p := l.Permitted[0] + l.Permitted[1] + l.Permitted[2]
		d := l.Refused[0] + l.Refused[1] + l.Refused[2]
		for _, v := range []struct {
			action string
			n      uint64
		}{{"permit", p}, {"deny", d}} {
			if v.n == 0 {
				continue
			}
			if series >= MaxHitSeries {
				if v.action == "permit" {
					otherP += v.n
				} else {
					otherD += v.n
				}
				continue
			}
			series++
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v.n), line, v.action)
		}
	}
	emit("default", h.Line(-1))
	for i := range snap.conf.Rules {
		emit(strconv.Itoa(snap.conf.Rules[i].Pos.Line), h.Line(i))
	}
	if otherP > 0 {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(otherP), "other", "permit")
	}
	if otherD > 0 {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(otherD), "other", "deny")
	}
	if sh := snap.shadow; sh != nil {
		names := [2]string{"permit", "deny"}
		for l := range 2 {
			for k := range 2 {
				ch <- prometheus.MustNewConstMetric(c.shadowDesc, prometheus.CounterValue, float64(sh.counts[l][k].Load()), names[l], names[k])
			}
		}
	}
}
