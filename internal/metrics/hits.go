package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/shadow"
	"github.com/sockd/sockd/policy"
)

// Rules is the rule set in force, as the per-line series read it at
// scrape time. Its counters run since start or the last reload: each
// loaded snapshot carries its own.
type Rules struct {
	Conf   *config.SockdConf // the lines, for their numbers
	Hits   *policy.Hits      // nil: no line series
	Shadow *shadow.Candidate // nil without --shadow
}

// MaxHitSeries caps the series of sockd_rule_hits_total: a scrape of a
// 100,000-line file would otherwise carry up to 200,000 series. Lines are
// exposed in file order while the cap allows; the hits of the lines beyond
// it are summed in line="other". Lines that decided nothing have no series.
const MaxHitSeries = 1000

// hitsCollector exposes the counters of the rules in force at scrape time.
type hitsCollector struct {
	rules      func() Rules
	desc       *prometheus.Desc
	shadowDesc *prometheus.Desc
}

func newHitsCollector(rules func() Rules) *hitsCollector {
	return &hitsCollector{rules: rules, desc: prometheus.NewDesc("sockd_rule_hits_total",
		"Requests decided by each rule line since start or reload, by line (the line number, default for the implicit deny, other beyond the first "+
			strconv.Itoa(MaxHitSeries)+" series) and action (permit, deny: the outcome, identd refusals included).",
		[]string{"line", "action"}, nil),
		shadowDesc: prometheus.NewDesc("sockd_shadow_decisions_total",
			"Requests decided under the --shadow candidate since start or reload, by live and candidate outcome (permit, deny).",
			[]string{"live", "candidate"}, nil)}
}

func (c *hitsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc; ch <- c.shadowDesc }

func (c *hitsCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.rules()
	h := r.Hits
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
	for i := range r.Conf.Rules {
		emit(strconv.Itoa(r.Conf.Rules[i].Pos.Line), h.Line(i))
	}
	if otherP > 0 {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(otherP), "other", "permit")
	}
	if otherD > 0 {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(otherD), "other", "deny")
	}
	if r.Shadow != nil {
		names := [2]string{"permit", "deny"}
		counts := r.Shadow.Counts()
		for l := range 2 {
			for k := range 2 {
				ch <- prometheus.MustNewConstMetric(c.shadowDesc, prometheus.CounterValue, float64(counts[l][k]), names[l], names[k])
			}
		}
	}
}
