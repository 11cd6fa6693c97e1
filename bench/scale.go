package main

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/policy"
)

// scaleResult is the config-scale part of the table.
type scaleResult struct {
	rules        int
	makeFC       time.Duration // make_sockdfc on the text file
	startText    time.Duration // sockd start until it accepts, from the text file
	startFrozen  time.Duration // the same from the frozen file
	decide       time.Duration // mean time of one decision
	decideSample int
	tools        ruleToolsResult // sockd replay and sockd diff
}

// writeBigConf writes an n-line sockd.conf in the shapes large sites have:
// banned hosts, subnet-to-service grants, site-to-datacentre ranges,
// per-user grants, IPv6, some name patterns, and a final deny.
func writeBigConf(path string, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	services := []string{"22", "smtp", "80", "110", "143", "443", "993", "3306", "5432", "8080"}
	var b strings.Builder
	b.WriteString("# generated: a large site\n#NO_IDENTD: echo no identd on %A\n")
	for i := 0; i < n-1; i++ {
		k := rng.IntN(100)
		switch {
		case k < 3:
			fmt.Fprintf(&b, "deny 10.%d.%d.%d 255.255.255.255\n", rng.IntN(256), rng.IntN(256), rng.IntN(256))
		case k < 65:
			fmt.Fprintf(&b, "permit 10.%d.%d.0 255.255.255.0 172.%d.%d.0 255.255.255.0 eq %s\n",
				rng.IntN(256), rng.IntN(256), 16+rng.IntN(16), rng.IntN(256), services[rng.IntN(len(services))])
		case k < 80:
			fmt.Fprintf(&b, "permit 10.%d.0.0/16 172.%d.0.0/16 ge 1024\n", rng.IntN(256), 16+rng.IntN(16))
		case k < 90:
			fmt.Fprintf(&b, "permit ?=n *=user%d,user%d 10.%d.%d.0/24 192.168.%d.0/24 lt 1024 : echo %%u from %%A to %%Z\n",
				rng.IntN(5000), rng.IntN(5000), rng.IntN(256), rng.IntN(256), rng.IntN(256))
		case k < 99:
			fmt.Fprintf(&b, "permit 2001:db8:%x:%x::/64 2001:db8:ffff:%x::/64\n", rng.IntN(65536), rng.IntN(65536), rng.IntN(65536))
		default:
			fmt.Fprintf(&b, "permit .site%d.example 0.0.0.0 172.%d.%d.0 255.255.255.0\n", rng.IntN(100), 16+rng.IntN(16), rng.IntN(256))
		}
	}
	b.WriteString("deny 0.0.0.0 0.0.0.0 : echo refused %u@%A\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		fatalf("%v", err)
	}
}

// configScale builds the n-rule file, compiles it, times the daemon's
// start both ways (the median of runs), and times decisions.
func configScale(sockdBin, makeFC, dir string, n, runs, toolRuns, logLines, diffRules int) (scaleResult, error) {
	res := scaleResult{rules: n}
	text := filepath.Join(dir, "big.conf")
	fc := filepath.Join(dir, "big.fc")
	writeBigConf(text, n)
	// make_sockdfc, like the daemon's start, is timed over runs and the
	// median kept: a single run on a shared machine says little.
	var mk []time.Duration
	for range runs {
		t0 := time.Now()
		out, err := exec.Command(makeFC, text, fc).CombinedOutput()
		mk = append(mk, time.Since(t0))
		if err != nil {
			return res, fmt.Errorf("make_sockdfc: %v\n%s", err, out)
		}
	}
	slices.Sort(mk)
	res.makeFC = mk[len(mk)/2]
	var err error
	start := func(conf string) (time.Duration, error) {
		var ds []time.Duration
		for range runs {
			addr := freePort()
			lf, err := os.Create(filepath.Join(dir, "scale.log"))
			if err != nil {
				return 0, err
			}
			cmd := exec.Command(sockdBin, "-c", conf, "--listen", addr)
			cmd.Stdout, cmd.Stderr = lf, lf
			t0 := time.Now()
			if err := cmd.Start(); err != nil {
				lf.Close()
				return 0, err
			}
			_, err = waitListening(addr, 60*time.Second)
			d := time.Since(t0)
			cmd.Process.Kill()
			cmd.Wait()
			lf.Close()
			if err != nil {
				return 0, fmt.Errorf("sockd -c %s did not start: %v", conf, err)
			}
			ds = append(ds, d)
		}
		slices.Sort(ds)
		return ds[len(ds)/2], nil
	}
	if res.startText, err = start(text); err != nil {
		return res, err
	}
	if res.startFrozen, err = start(fc); err != nil {
		return res, err
	}
	if res.decide, res.decideSample, err = decisionTime(fc); err != nil {
		return res, err
	}
	res.tools, err = ruleTools(sockdBin, dir, fc, logLines, diffRules, toolRuns)
	return res, err
}

// decisionTime loads the frozen file as the daemon does and decides
// requests spread over the rules' address space, as the daemon's sessions
// do (no tracer, no DNS: the name hooks return nothing).
func decisionTime(fc string) (time.Duration, int, error) {
	conf, _, err := load.Sockd(fc, load.Options{})
	if err != nil {
		return 0, 0, err
	}
	p, err := policy.New(conf, policy.Options{})
	if err != nil {
		return 0, 0, err
	}
	rng := rand.New(rand.NewPCG(3, 4))
	ports := []uint16{22, 25, 80, 443, 993, 3306, 8080, 1025, 50000}
	const n = 4096
	reqs := make([]policy.Request, n)
	noNames := func() []string { return nil }
	for i := range reqs {
		src := netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		dst := netip.AddrFrom4([4]byte{172, byte(16 + rng.IntN(16)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		if i%10 == 0 {
			dst = netip.AddrFrom4([4]byte{192, 168, byte(rng.IntN(256)), byte(rng.IntN(256))})
		}
		reqs[i] = policy.Request{Command: policy.CmdConnect, SrcIP: src, SrcPort: 40000, DstIP: dst,
			DstPort: ports[rng.IntN(len(ports))], User: fmt.Sprintf("user%d", rng.IntN(5000)),
			SrcNames: noNames, DstNames: noNames}
	}
	const total = 200_000
	t0 := time.Now()
	for i := range total {
		p.Decide(&reqs[i%n], nil)
	}
	return time.Since(t0) / total, total, nil
}
