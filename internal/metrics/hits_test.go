package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/policy"
)

// TestHitSeriesCapped: a file with more lines in use than MaxHitSeries
// exposes MaxHitSeries line series and sums the rest in line="other".
func TestHitSeriesCapped(t *testing.T) {
	t.Parallel()
	const n = MaxHitSeries + 500
	conf := &config.SockdConf{}
	for i := 0; i < n; i++ {
		conf.Rules = append(conf.Rules, config.Rule{Pos: config.Pos{Line: i + 1}, Action: config.Permit})
	}
	hits := policy.NewHits(len(conf.Rules), time.Now())
	for i := 0; i < n; i++ {
		d := policy.Decision{Index: i, Permit: true}
		hits.Record(&d, policy.CmdConnect, time.Now())
		hits.Record(&d, policy.CmdBind, time.Now())
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newHitsCollector(func() Rules { return Rules{Conf: conf, Hits: hits} }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var series int
	var other float64
	for _, mf := range mfs {
		if mf.GetName() != "sockd_rule_hits_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			series++
			for _, l := range m.GetLabel() {
				if l.GetName() == "line" && l.GetValue() == "other" {
					other = m.GetCounter().GetValue()
				}
			}
		}
	}
	if series != MaxHitSeries+1 || other != 2*500 {
		t.Fatalf("%d series, other %v; want %d and %d", series, other, MaxHitSeries+1, 1000)
	}
}
