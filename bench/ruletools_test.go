package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/internal/replay"
	"github.com/sockd/sockd/policy"
)

// The rule-change tools on the large-site files of the config-scale
// workload (writeBigConf). Figures measured on the 2-core machine:
//
//	BenchmarkDiff10kEdit       0.24 s  a 10,000-line file against itself after 8 edits, 138 regions (issue: under 10 s)
//	BenchmarkDiff10kUnrelated  0.50 s  the same lines shuffled: 14,961 regions
//	BenchmarkReplay100k        529,000 log lines/s against a 100,000-line file (issue: 200,000)
//
// go test ./bench -run XXX -bench 'Diff10k|Replay100k' -benchtime 1x

func bigFilePolicy(b *testing.B, path string) *policy.Policy {
	conf, _, err := load.Sockd(path, load.Options{})
	if err != nil {
		b.Fatal(err)
	}
	p, err := policy.New(conf, policy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// editBigConf writes path's lines to out with a line inserted at the top,
// three removed, four actions flipped and one port test widened.
func editBigConf(b *testing.B, path, out string) {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	n := len(lines)
	for _, k := range []int{n / 7, n / 3, n / 2, 2 * n / 3} {
		if strings.HasPrefix(lines[k], "permit ") {
			lines[k] = "deny " + strings.TrimPrefix(lines[k], "permit ")
		} else if strings.HasPrefix(lines[k], "deny ") {
			lines[k] = "permit " + strings.TrimPrefix(lines[k], "deny ")
		}
	}
	if k := strings.Index(lines[n/5], " eq "); k > 0 {
		lines[n/5] = lines[n/5][:k] + " ge 1"
	}
	lines = append(lines[:n/4], lines[n/4+3:]...)
	lines = append([]string{"deny 10.9.0.0 255.255.0.0"}, lines...)
	if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkDiff10kEdit(b *testing.B) {
	dir := b.TempDir()
	oldPath, newPath := filepath.Join(dir, "old.conf"), filepath.Join(dir, "new.conf")
	writeBigConf(oldPath, 10_000)
	editBigConf(b, oldPath, newPath)
	benchDiff(b, bigFilePolicy(b, oldPath), bigFilePolicy(b, newPath))
}

func BenchmarkDiff10kUnrelated(b *testing.B) {
	dir := b.TempDir()
	oldPath, newPath := filepath.Join(dir, "old.conf"), filepath.Join(dir, "new.conf")
	writeBigConf(oldPath, 10_000)
	// The same lines in another order: most pairs of lines now differ.
	data, err := os.ReadFile(oldPath)
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	rng := rand.New(rand.NewPCG(7, 8))
	rng.Shuffle(len(lines)-1, func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	if err := os.WriteFile(newPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	benchDiff(b, bigFilePolicy(b, oldPath), bigFilePolicy(b, newPath))
}

func benchDiff(b *testing.B, op, np *policy.Policy) {
	b.ResetTimer()
	for b.Loop() {
		res, err := policy.Diff(op, np)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.Regions()), "regions")
	}
}

func BenchmarkReplay100k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.conf")
	writeBigConf(path, 100_000)
	p := bigFilePolicy(b, path)
	rng := rand.New(rand.NewPCG(3, 4))
	var log bytes.Buffer
	lines := 0
	for lines < 200_000 {
		src := fmt.Sprintf("10.%d.%d.%d", rng.IntN(256), rng.IntN(256), rng.IntN(256))
		msg := fmt.Sprintf("Connect from user%d(unknown)@%s to 172.%d.%d.%d (%d)", rng.IntN(5000), src,
			16+rng.IntN(16), rng.IntN(256), rng.IntN(256), []int{22, 80, 443, 8080}[rng.IntN(4)])
		client := fmt.Sprintf("%s:%d", src, 1024+rng.IntN(60000))
		if rng.IntN(4) == 0 {
			fmt.Fprintf(&log, "2026-12-06T04:00:00.000000001Z INFO refused -- %s client=%s file=big.conf line=0\n", msg, client)
			lines++
			continue
		}
		fmt.Fprintf(&log, "2026-12-06T04:00:00.000000001Z INFO connected -- %s client=%s\n", msg, client)
		fmt.Fprintf(&log, "2026-12-06T04:00:01.000000001Z INFO terminated -- %s. 10 bytes from %s, 20 bytes from x client=%s\n", msg, src, client)
		lines += 2
	}
	data := log.Bytes()
	b.ResetTimer()
	for b.Loop() {
		r := replay.Replayer{New: p}
		if err := r.Read("bench.log", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		if s := r.Report().Summary; s.Lines != lines || s.Unparsable != 0 {
			b.Fatalf("%+v", s)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
