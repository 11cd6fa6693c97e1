package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// The targets for sockd, checked in the last column.
const (
	targetTP1        = 0.55
	targetTPN        = 0.45
	targetIdleKB     = 12.0
	targetIdleFDs    = 4.0
	targetStartRatio = 20.0
	targetDecide     = 2 * time.Microsecond
	targetMakeFC     = 5 * time.Second
	targetReplay     = 200_000 // log lines a second, against the scale workload's rules
	targetDiff       = 10 * time.Second
)

func rateStr(bps float64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.2f GB/s", bps/1e9)
	default:
		return fmt.Sprintf("%.0f MB/s", bps/1e6)
	}
}

func ratio(v, direct float64) string {
	if direct <= 0 {
		return ""
	}
	return fmt.Sprintf(" %.2f×", v/direct)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// printTable writes the one table and reports whether sockd met every
// target it was measured on.
func printTable(w io.Writer, s settings, cols []column, sc *scaleResult, fdLimit uint64) bool {
	var direct *column
	var sockd *column
	var micro *column
	for i := range cols {
		switch cols[i].name {
		case "direct":
			direct = &cols[i]
		case "sockd":
			sockd = &cols[i]
		case "microsocks":
			micro = &cols[i]
		}
	}
	fmt.Fprintf(w, "sockd benchmark: loopback, %d CPUs, %s per workload, SOCKS5 CONNECT, descriptor limit %d\n",
		runtime.NumCPU(), s.duration, fdLimit)
	fmt.Fprintf(w, "sockd runs with %s", flagsOrDefaults(s.sockdFlags))
	if s.workloads["idle"] && s.restartForHold() {
		fmt.Fprintf(w, "; for the held connections, with %s", flagsOrDefaults(s.holdFlags))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"workload"}
	for _, c := range cols {
		head = append(head, c.name)
	}
	if sockd != nil {
		head = append(head, "sockd target")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	allOK := true
	// line prints one row; last is the target column's cell.
	line := func(name string, cell func(c *column) string, last string) {
		r := []string{name}
		for i := range cols {
			r = append(r, cell(&cols[i]))
		}
		if sockd != nil {
			r = append(r, last)
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	row := func(name string, cell func(c *column) string, target string, ok bool) {
		line(name, cell, target+"  "+verdict(ok))
		if sockd != nil {
			allOK = allOK && ok
		}
	}
	dv := func(f func(c *column) float64) float64 {
		if direct == nil {
			return 0
		}
		return f(direct)
	}
	tp1 := func(c *column) float64 { return c.tp1 }
	tpN := func(c *column) float64 { return c.tpN }
	rate := func(c *column) float64 { return c.rate }
	ratioOK := func(f func(c *column) float64, min float64) bool {
		return sockd != nil && dv(f) > 0 && f(sockd)/dv(f) >= min
	}
	// A workload left out with -workloads has no rows: zeros there would
	// read as missed targets.
	if s.workloads["throughput"] {
		row("throughput, 1 stream", func(c *column) string { return rateStr(c.tp1) + ratio(c.tp1, dv(tp1)) },
			fmt.Sprintf("≥ %.2f×", targetTP1), ratioOK(tp1, targetTP1))
		row(fmt.Sprintf("throughput, %d streams", s.streams), func(c *column) string { return rateStr(c.tpN) + ratio(c.tpN, dv(tpN)) },
			fmt.Sprintf("≥ %.2f×", targetTPN), ratioOK(tpN, targetTPN))
	}
	if s.workloads["rate"] {
		row(fmt.Sprintf("connections/s, %d workers", s.workers), func(c *column) string {
			out := fmt.Sprintf("%.0f/s", c.rate) + ratio(c.rate, dv(rate))
			if c.rateFailed > 0 {
				out += fmt.Sprintf(" (%d failed)", c.rateFailed)
			}
			return out
		}, "> microsocks", sockd != nil && micro != nil && sockd.rate > micro.rate && sockd.rateFailed == 0)
		us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }
		// No target: these say where the rate's time goes.
		line("  CPU per connection, server", func(c *column) string {
			if c.rateCPU.server == 0 {
				return "—" // direct, or a server started by hand
			}
			return us(c.rateCPU.server)
		}, "")
		line("  CPU per connection, clients and target", func(c *column) string { return us(c.rateCPU.load) }, "")
	}
	dash := func(c *column, s string) string {
		if c.name == "direct" {
			return "—"
		}
		return s
	}
	if s.workloads["idle"] {
		row(fmt.Sprintf("idle PSS per connection (%d open)", s.idle), func(c *column) string {
			return dash(c, fmt.Sprintf("%.1f KB", c.idleKB))
		}, fmt.Sprintf("≤ %.0f KB", targetIdleKB), sockd != nil && sockd.idleOpen == s.idle && sockd.idleKB <= targetIdleKB)
		row(fmt.Sprintf("idle descriptors per connection (%d open)", s.idle), func(c *column) string {
			return dash(c, fmt.Sprintf("%.2f", c.idleFDs))
		}, fmt.Sprintf("≤ %.0f", targetIdleFDs), sockd != nil && sockd.idleOpen == s.idle && sockd.idleFDs <= targetIdleFDs)
		row("relayed connections held, all relaying", func(c *column) string {
			return dash(c, fmt.Sprintf("%d of %d", c.held, s.hold))
		}, fmt.Sprintf("%d", s.hold), sockd != nil && sockd.held == s.hold)
	}
	if sc != nil {
		blank := func(v string) func(c *column) string {
			return func(c *column) string {
				if c.name == "sockd" {
					return v
				}
				return ""
			}
		}
		ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
		row(fmt.Sprintf("make_sockdfc, %d rules", sc.rules), blank(ms(sc.makeFC)), "≤ 5 s", sc.makeFC <= targetMakeFC)
		row(fmt.Sprintf("start from text, %d rules", sc.rules), blank(ms(sc.startText)), "", true)
		ratioStart := float64(sc.startText) / float64(sc.startFrozen)
		row(fmt.Sprintf("start from frozen, %d rules", sc.rules), blank(fmt.Sprintf("%s (%.1f× faster)", ms(sc.startFrozen), ratioStart)),
			fmt.Sprintf("≥ %.0f× faster", targetStartRatio), ratioStart >= targetStartRatio)
		row(fmt.Sprintf("decision, mean of %d", sc.decideSample), blank(fmt.Sprintf("%.2f µs", float64(sc.decide)/1e3)),
			"≤ 2 µs", sc.decide <= targetDecide)
		tl := sc.tools
		row(fmt.Sprintf("sockd replay, %d log lines, %d rules frozen", tl.replayLines, sc.rules),
			blank(fmt.Sprintf("%.0f lines/s (%s)", tl.replayRate(), ms(tl.replay))),
			fmt.Sprintf("≥ %d lines/s", targetReplay), tl.replayRate() >= targetReplay)
		row(fmt.Sprintf("sockd diff, %d rules, edited copy", tl.diffRules),
			blank(fmt.Sprintf("%s (%s)", ms(tl.diffEdit), regions(tl.editRegions))),
			"≤ 10 s", tl.diffEdit > 0 && tl.diffEdit <= targetDiff)
		row(fmt.Sprintf("sockd diff, %d rules, lines reordered", tl.diffRules),
			blank(fmt.Sprintf("%s (%s)", ms(tl.diffOther), regions(tl.otherRegions))),
			"≤ 10 s", tl.diffOther > 0 && tl.diffOther <= targetDiff)
	}
	tw.Flush()
	for _, c := range cols {
		for _, e := range c.errs {
			fmt.Fprintf(w, "%s: %s\n", c.name, e)
		}
		if c.holdMsg != "" {
			fmt.Fprintf(w, "%s: held: first failure: %s\n", c.name, c.holdMsg)
		}
		if c.name == "sockd" && c.held < s.hold && c.fdBase > 0 {
			// One process holds both sockets of every relayed connection.
			fmt.Fprintf(w, "sockd: held: one process can hold at most (%d - %d at rest) / 2 = %d relayed connections under this machine's descriptor hard limit\n",
				fdLimit, c.fdBase, (int(fdLimit)-c.fdBase)/2)
		}
	}
	return allOK
}

func regions(n int) string {
	if n == 1 {
		return "1 region"
	}
	return fmt.Sprintf("%d regions", n)
}

func flagsOrDefaults(flags []string) string {
	if len(flags) == 0 {
		return "its defaults"
	}
	return strings.Join(flags, " ")
}
