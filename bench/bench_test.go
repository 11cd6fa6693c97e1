package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the benchmark's target process,
// which the harness starts by running its own executable again.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "target" {
		runTargets()
		return
	}
	os.Exit(m.Run())
}

// TestHarnessShort runs the whole harness against direct and sockd with
// tiny counts: it proves the benchmark still works (every workload
// completes and relays, sockd restarted with workers for the held
// connections), not how fast anything is.
func TestHarnessShort(t *testing.T) {
	s := shortSettings(settings{streams: 2, workers: 4, peers: []string{"direct", "sockd"}, work: t.TempDir(),
		holdFlags: []string{"--workers", "2"}, workloads: map[string]bool{"throughput": true, "rate": true, "idle": true, "scale": true}})
	s.idle, s.hold = 20, 50
	var out bytes.Buffer
	r := measureAll(s, &out)
	t.Log("\n" + out.String())
	if len(r.cols) != 2 {
		t.Fatalf("%d columns, want 2", len(r.cols))
	}
	for _, c := range r.cols {
		if len(c.errs) > 0 {
			t.Errorf("%s: %v", c.name, c.errs)
		}
		if c.rateCPU.load <= 0 {
			t.Errorf("%s: no processor time measured for the load generator", c.name)
		}
		if c.tp1 <= 0 || c.tpN <= 0 || c.rate <= 0 {
			t.Errorf("%s: throughput %.0f/%.0f B/s, rate %.0f/s: a workload moved nothing", c.name, c.tp1, c.tpN, c.rate)
		}
	}
	sockd := r.cols[1]
	if sockd.rateCPU.server <= 0 {
		t.Error("sockd: no processor time measured per connection")
	}
	if sockd.held != s.hold || sockd.idleOpen != s.idle || sockd.rateFailed != 0 {
		t.Errorf("sockd: held %d of %d, idle %d of %d, %d failed exchanges", sockd.held, s.hold, sockd.idleOpen, s.idle, sockd.rateFailed)
	}
	if r.scale == nil || r.scale.startText <= 0 || r.scale.startFrozen <= 0 || r.scale.decide <= 0 {
		t.Fatalf("config scale not measured: %+v", r.scale)
	}
	// The real sockd replay read the whole generated log (ruleTools checks
	// its summary), and both real diffs found the changes.
	if tl := r.scale.tools; tl.replay <= 0 || tl.replayLines < s.replayLines || tl.diffEdit <= 0 || tl.diffOther <= 0 ||
		tl.editRegions == 0 || tl.otherRegions == 0 {
		t.Errorf("sockd replay and sockd diff not measured: %+v", tl)
	}
	if !strings.Contains(out.String(), "sockd runs with its defaults; for the held connections, with --workers 2") {
		t.Error("the table does not say which flags sockd ran with")
	}
	for _, row := range []string{"throughput, 1 stream", "connections/s", "CPU per connection, server", "idle PSS", "held", "start from frozen", "decision",
		"sockd replay, 5000 log lines", "sockd diff, 300 rules, edited copy", "sockd diff, 300 rules, lines reordered"} {
		if !strings.Contains(out.String(), row) {
			t.Errorf("table has no %q row", row)
		}
	}
}

// TestTableOmitsWorkloadsNotRun: a run limited with -workloads prints
// rows only for what it measured, so no target reads as missed for want
// of a measurement, while a measured miss still fails the run.
func TestTableOmitsWorkloadsNotRun(t *testing.T) {
	s := settings{streams: 8, workers: 32, idle: 2000, hold: 10000, workloads: map[string]bool{"throughput": true}}
	cols := []column{
		{name: "direct", tp1: 4e9, tpN: 6e9},
		{name: "sockd", tp1: 2.6e9, tpN: 3.3e9},
		{name: "microsocks", tp1: 0.4e9, tpN: 0.7e9},
	}
	var out bytes.Buffer
	ok := printTable(&out, s, cols, nil, 20000)
	t.Log("\n" + out.String())
	if !ok || strings.Contains(out.String(), "MISSED") {
		t.Error("targets reported missed although every measured one was met")
	}
	for _, row := range []string{"connections/s", "idle PSS", "idle descriptors", "held"} {
		if strings.Contains(out.String(), row) {
			t.Errorf("the table has a %q row for a workload that did not run", row)
		}
	}
	cols[1].tpN = 2e9 // 0.33× of direct
	out.Reset()
	if printTable(&out, s, cols, nil, 20000) || !strings.Contains(out.String(), "MISSED") {
		t.Errorf("a missed throughput target passed:\n%s", out.String())
	}
}

// TestRuleToolRowsCount: the replay and diff rows carry the issue's
// targets, and a miss on either fails the run like any other row's.
func TestRuleToolRowsCount(t *testing.T) {
	s := settings{workloads: map[string]bool{"scale": true}}
	cols := []column{{name: "sockd"}}
	sc := scaleResult{rules: 100000, makeFC: time.Second, startText: time.Second, startFrozen: time.Second / 50,
		decide: time.Microsecond, decideSample: 200000,
		tools: ruleToolsResult{replayLines: 1000000, replay: 2 * time.Second, diffRules: 10000,
			diffEdit: time.Second, editRegions: 138, diffOther: 2 * time.Second, otherRegions: 14961}}
	var out bytes.Buffer
	if !printTable(&out, s, cols, &sc, 20000) {
		t.Errorf("targets reported missed although every one was met:\n%s", out.String())
	}
	t.Log("\n" + out.String())
	for _, want := range []string{
		"sockd replay, 1000000 log lines, 100000 rules frozen  500000 lines/s (2000.0 ms)  ≥ 200000 lines/s  met",
		"sockd diff, 10000 rules, edited copy                  1000.0 ms (138 regions)     ≤ 10 s  met",
		"sockd diff, 10000 rules, lines reordered              2000.0 ms (14961 regions)   ≤ 10 s  met",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table has no line %q", want)
		}
	}
	for name, miss := range map[string]func(*ruleToolsResult){
		"replay": func(r *ruleToolsResult) { r.replay = 6 * time.Second }, // 166,667 lines/s
		"edit":   func(r *ruleToolsResult) { r.diffEdit = 11 * time.Second },
		"other":  func(r *ruleToolsResult) { r.diffOther = 10*time.Second + 1 },
	} {
		c := sc
		miss(&c.tools)
		out.Reset()
		if printTable(&out, s, cols, &c, 20000) || strings.Count(out.String(), "MISSED") != 1 {
			t.Errorf("%s: a missed target passed:\n%s", name, out.String())
		}
	}
}
