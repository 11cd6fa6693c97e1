// Command bench measures sockd against danted, microsocks and a direct
// connection on loopback, and prints one table with absolute figures and
// ratios to direct:
//
//	go run ./bench            # the full run (about three minutes)
//	go run ./bench -short     # a smoke run of the harness (seconds)
//	go run ./bench -profile /tmp/prof   # also profile sockd per connection
//
// It builds sockd and make_sockdfc from the working tree, installs danted
// and microsocks from Debian when they are missing, and starts every
// server on 127.0.0.1 only. sockd runs as users get it: its log on (to a
// file), every request decided by a 1,000-line rule file, byte accounting
// in its "terminated" lines. The targets (a data source, a
// request/reply server that closes first, an echo server) run in a child
// process, so that the clients and the targets each have a full
// descriptor limit.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

type settings struct {
	duration      time.Duration
	streams       int
	rounds        int
	workloads     map[string]bool
	workers       int
	idle, hold    int
	rules, runs   int
	replayLines   int // log lines of the config-scale workload's replay
	toolRuns      int // runs of its replay and each diff (the median counts)
	diffRules     int // lines of each file of its diffs
	settle        time.Duration
	peers         []string
	profile, work string
	sockdFlags    []string // added to sockd's command line in the timed and idle workloads
	holdFlags     []string // the held workload's instead: sockd is restarted with them
}

// restartForHold says whether the held workload needs sockd restarted
// with other flags than the rest of the run.
func (s settings) restartForHold() bool { return !slices.Equal(s.holdFlags, s.sockdFlags) }

// allWorkloads are the -workloads names; "idle" also measures the held
// connections.
var allWorkloads = []string{"throughput", "rate", "idle", "scale"}

func main() {
	if os.Getenv(roleEnv) == "target" {
		runTargets()
		return
	}
	var s settings
	var short bool
	var peers, workloads, sockdFlags, holdFlags string
	flag.DurationVar(&s.duration, "duration", 6*time.Second, "how long each timed workload is measured per server, split over the rounds (each after a warm-up of a fifth of it)")
	flag.IntVar(&s.rounds, "rounds", 3, "rounds of the timed workloads; each server's median round counts")
	flag.IntVar(&s.streams, "streams", 8, "streams of the parallel throughput workload")
	flag.IntVar(&s.workers, "workers", 32, "concurrent clients of the connection-rate workload")
	flag.IntVar(&s.idle, "idle", 2000, "idle relayed connections for the memory and descriptor cost")
	flag.IntVar(&s.hold, "hold", 10000, "concurrent relayed connections to hold")
	flag.IntVar(&s.rules, "rules", 100000, "rules of the config-scale workload")
	flag.IntVar(&s.runs, "runs", 5, "daemon starts per way in the config-scale workload (the median counts): a start lasts tens of milliseconds, so one slow start among three can move the median")
	flag.IntVar(&s.replayLines, "replay-lines", 500000, "log lines sockd replay reads in the config-scale workload, against its frozen rules")
	flag.IntVar(&s.toolRuns, "tool-runs", 3, "runs of sockd replay and of each sockd diff in the config-scale workload (the median counts): each lasts about a second, so fewer runs than the daemon's starts keep the bench short")
	flag.IntVar(&s.diffRules, "diff-rules", 10000, "lines of each file sockd diff compares in the config-scale workload")
	flag.DurationVar(&s.settle, "settle", 3*time.Second, "wait after opening the idle connections before measuring")
	flag.StringVar(&peers, "peers", "direct,sockd,danted,microsocks", "what to measure, in column order; external=HOST:PORT measures a SOCKS5 server started by hand")
	flag.StringVar(&workloads, "workloads", strings.Join(allWorkloads, ","), "which workloads to run")
	flag.StringVar(&s.profile, "profile", "", "write a CPU profile of sockd under the connection-rate workload to this directory and print where the time goes")
	flag.StringVar(&s.work, "workdir", "", "directory for binaries, configurations and logs (default: a temporary one, removed)")
	flag.StringVar(&sockdFlags, "sockd-flags", "", "extra flags of the measured sockd in the timed and idle workloads (default none: sockd as users get it)")
	flag.StringVar(&holdFlags, "hold-flags", "--workers 2", "extra flags of sockd in the held workload, for which it is restarted: one process cannot hold 10,000 relayed connections (20,000 descriptors) within a 20,000-descriptor limit")
	flag.BoolVar(&short, "short", false, "a quick run that checks the harness works: tiny counts and durations")
	flag.Parse()
	if short {
		s = shortSettings(s)
	}
	s.peers = strings.Split(peers, ",")
	s.sockdFlags = strings.Fields(sockdFlags)
	s.holdFlags = strings.Fields(holdFlags)
	s.workloads = map[string]bool{}
	for _, w := range strings.Split(workloads, ",") {
		if !slices.Contains(allWorkloads, w) {
			fatalf("-workloads: unknown workload %q (want some of %s)", w, strings.Join(allWorkloads, ","))
		}
		s.workloads[w] = true
	}
	remove := func() {}
	if s.work == "" {
		dir, err := os.MkdirTemp("", "sockd-bench")
		if err != nil {
			fatalf("%v", err)
		}
		s.work, remove = dir, func() { os.RemoveAll(dir) }
	} else if err := os.MkdirAll(s.work, 0o755); err != nil {
		fatalf("%v", err)
	}
	// os.Exit runs no deferred calls: the scratch directory (rule files
	// and binaries, tens of MB) is removed before it.
	code := run(s)
	remove()
	os.Exit(code)
}

// result is one run's figures.
type result struct {
	cols    []column
	scale   *scaleResult
	limit   uint64
	targets bool // every target met
}

// shortSettings shrink a run to seconds: enough to show the harness
// works, not to measure anything.
func shortSettings(s settings) settings {
	s.duration, s.rounds, s.idle, s.hold, s.rules, s.runs, s.settle = 300*time.Millisecond, 1, 50, 200, 2000, 1, 200*time.Millisecond
	s.replayLines, s.diffRules, s.toolRuns = 5000, 300, 1
	return s
}

func run(s settings) int {
	r := measureAll(s, os.Stdout)
	if !r.targets {
		return 3
	}
	return 0
}

// measureAll runs every workload, prints the table to w, and returns the
// figures.
func measureAll(s settings, w io.Writer) result {
	limit := raiseFileLimit()
	t, stopTargets := startTargets()
	defer stopTargets()
	sockdBin, makeFC := buildSockd(s.work)
	for _, name := range s.peers {
		if name == "danted" || name == "microsocks" {
			ensurePeers()
			break
		}
	}
	// Every server runs from the start; the timed workloads visit them in
	// turn, round after round, and each keeps its median round: load from
	// elsewhere on the machine then falls on all of them alike.
	var proxies []*proxy
	for _, name := range s.peers {
		p, err := startPeer(name, sockdBin, s)
		if err != nil {
			for _, q := range proxies {
				q.stop()
			}
			fatalf("%v", err)
		}
		proxies = append(proxies, p)
	}
	cols := make([]column, len(proxies))
	for i, p := range proxies {
		cols[i].name = p.name
		if p.name == "external" {
			if w := sessionWarning(p.addr); w != "" {
				cols[i].errs = append(cols[i].errs, w)
				fmt.Fprintf(os.Stderr, "bench: %s: %s\n", p.addr, w)
			}
		}
	}
	timed(proxies, cols, t, s)
	for i, p := range proxies {
		if p.direct() || p.cmd == nil || !s.workloads["idle"] {
			p.stop()
			continue
		}
		fmt.Fprintf(os.Stderr, "idle and held connections: %s\n", p.name)
		// A fresh process: one the timed workloads have run in has memory
		// left over (a Go heap's free spans, an allocator's free lists)
		// that the idle connections would reuse unseen.
		p.stop()
		q, err := startPeer(p.name, sockdBin, s)
		if err != nil {
			cols[i].errs = append(cols[i].errs, fmt.Sprintf("idle: restart: %v", err))
			continue
		}
		q = idleAndHeld(q, &cols[i], t, s, sockdBin)
		q.stop()
	}
	var sc *scaleResult
	for _, name := range s.peers {
		if name == "sockd" && s.workloads["scale"] {
			fmt.Fprintf(os.Stderr, "config scale: %d rules\n", s.rules)
			r, err := configScale(sockdBin, makeFC, s.work, s.rules, s.runs, s.toolRuns, s.replayLines, s.diffRules)
			if err != nil {
				fatalf("config scale: %v", err)
			}
			sc = &r
		}
	}
	ok := printTable(w, s, cols, sc, limit)
	if s.profile != "" {
		if err := profileSockd(sockdBin, t, s); err != nil {
			fatalf("profile: %v", err)
		}
	}
	return result{cols: cols, scale: sc, limit: limit, targets: ok}
}

func startPeer(name, sockdBin string, s settings) (*proxy, error) {
	switch name {
	case "direct":
		return &proxy{name: "direct"}, nil
	case "sockd":
		return startSockd(sockdBin, s.work, s.sockdFlags...)
	case "danted":
		return startDanted(s.work)
	case "microsocks":
		return startMicrosocks(s.work)
	}
	if addr, ok := strings.CutPrefix(name, "external="); ok {
		// A server started by hand (under strace or perf, say): measured
		// like the others, except for its memory, which is not ours to see.
		return &proxy{name: "external", addr: addr}, nil
	}
	return nil, fmt.Errorf("unknown peer %q (want direct, sockd, danted, microsocks)", name)
}

// startTargets starts this program again as the target server and reads
// its three addresses.
func startTargets() (targets, func()) {
	exe, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), roleEnv+"=target")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		fatalf("%v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fatalf("%v", err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fatalf("starting the targets: %v", err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 3 {
		fatalf("targets: %q %v", line, err)
	}
	return targets{source: f[0], rate: f[1], echo: f[2], pid: cmd.Process.Pid}, func() {
		stdin.Close()
		cmd.Wait()
	}
}

// column is what one server measured.
type column struct {
	name          string
	tp1, tpN      float64 // bytes per second
	rate          float64 // exchanges per second
	rateFailed    int64
	rateCPU       cpuSample // processor time per exchange: the server's, the load generator's
	idleKB        float64   // PSS per idle connection
	idleFDs       float64   // descriptors per idle connection
	idleOpen      int
	held, holdErr int
	fdBase        int // descriptors of the server at rest
	holdMsg       string
	errs          []string
}

// timed runs the throughput and connection-rate workloads over rounds.
func timed(proxies []*proxy, cols []column, t targets, s settings) {
	rounds := max(1, s.rounds)
	slice := s.duration / time.Duration(rounds)
	tp1 := make([][]float64, len(proxies))
	tpN := make([][]float64, len(proxies))
	rate := make([][]float64, len(proxies))
	srvCPU := make([][]float64, len(proxies))
	loadCPU := make([][]float64, len(proxies))
	for r := range rounds {
		fmt.Fprintf(os.Stderr, "timed workloads, round %d of %d\n", r+1, rounds)
		for i, p := range proxies {
			c := &cols[i]
			if s.workloads["throughput"] {
				v, err := throughput(p, t, 1, slice)
				if err != nil {
					c.errs = append(c.errs, "1 stream: "+err.Error())
				}
				tp1[i] = append(tp1[i], v)
				v, err = throughput(p, t, s.streams, slice)
				if err != nil {
					c.errs = append(c.errs, fmt.Sprintf("%d streams: %v", s.streams, err))
				}
				tpN[i] = append(tpN[i], v)
			}
			if s.workloads["rate"] {
				v, failed, cpu := connRate(p, t, s.workers, slice)
				rate[i] = append(rate[i], v)
				srvCPU[i] = append(srvCPU[i], float64(cpu.server))
				loadCPU[i] = append(loadCPU[i], float64(cpu.load))
				c.rateFailed += failed
			}
		}
	}
	for i := range cols {
		cols[i].tp1, cols[i].tpN, cols[i].rate = median(tp1[i]), median(tpN[i]), median(rate[i])
		cols[i].rateCPU = cpuSample{server: time.Duration(median(srvCPU[i])), load: time.Duration(median(loadCPU[i]))}
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// idleAndHeld measures the memory and descriptors of idle relayed
// connections, then holds many and checks every one still relays. sockd is
// restarted with the hold flags for the second part; the proxy that ran
// last is returned, to be stopped.
func idleAndHeld(p *proxy, c *column, t targets, s settings, sockdBin string) *proxy {
	// Idle cost: the server's whole process tree before and after opening
	// the connections, once it has settled.
	time.Sleep(s.settle)
	before := treeUsage(p.cmd.Process.Pid)
	c.fdBase = before.fds
	conns, err := openEcho(p, t, s.idle, 32)
	c.idleOpen = len(conns)
	if err != nil {
		c.errs = append(c.errs, fmt.Sprintf("idle: %d of %d opened: %v", len(conns), s.idle, err))
	}
	time.Sleep(s.settle)
	after := treeUsage(p.cmd.Process.Pid)
	if n := len(conns); n > 0 {
		c.idleKB = float64(after.pssKB-before.pssKB) / float64(n)
		c.idleFDs = float64(after.fds-before.fds) / float64(n)
	}
	closeAll(conns)
	time.Sleep(500 * time.Millisecond)
	if p.name == "sockd" && s.restartForHold() {
		p.stop()
		q, err := startSockd(sockdBin, s.work, s.holdFlags...)
		if err != nil {
			c.holdMsg = err.Error()
			return p
		}
		p = q
	}
	conns, err = openEcho(p, t, s.hold, 64)
	if err != nil {
		c.holdMsg = err.Error()
	}
	c.held = checkAll(conns, 64)
	closeAll(conns)
	time.Sleep(time.Second) // let the server close its side before the next one starts
	return p
}

func profileSockd(bin string, t targets, s settings) error {
	if err := os.MkdirAll(s.profile, 0o755); err != nil {
		return err
	}
	prof := filepath.Join(s.profile, "sockd-connrate.pprof")
	p, err := startSockd(bin, s.work, "--cpuprofile", prof)
	if err != nil {
		return err
	}
	rate, _, _ := connRate(p, t, s.workers, s.duration)
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	fmt.Printf("\nCPU profile of sockd under the connection-rate workload (%.0f conn/s): %s\n", rate, prof)
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=30", bin, prof).CombinedOutput()
	fmt.Printf("%s", out)
	return err
}
