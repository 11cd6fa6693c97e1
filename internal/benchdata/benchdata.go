// Package benchdata holds what the rule-change benchmarks of bench,
// policy and internal/replay share: compiling a generated rule file, the
// synthetic sockd log a replay reads, and the timed loops, so that the
// figures each package reports measure the same work.
package benchdata

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/internal/replay"
	"github.com/sockd/sockd/policy"
)

// Policy loads and compiles the sockd.conf at path.
func Policy(tb testing.TB, path string) *policy.Policy {
	tb.Helper()
	conf, _, err := load.Sockd(path, load.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := policy.New(conf, policy.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// ReplayLog is a text log of at least n lines from 10.x sources to
// 172.16-31.x destinations: sessions of a connected and a terminated line,
// with refusals (naming refusedFile) between. It returns the log and its
// line count; the same n gives the same log.
func ReplayLog(n int, refusedFile string) ([]byte, int) {
	var log bytes.Buffer
	lines, _ := WriteReplayLog(&log, n, refusedFile)
	return log.Bytes(), lines
}

// WriteReplayLog writes ReplayLog's log to w, so that a log of millions
// of lines (the bench's replay row) need not be held in memory.
func WriteReplayLog(w io.Writer, n int, refusedFile string) (int, error) {
	rng := rand.New(rand.NewPCG(3, 4))
	bw := bufio.NewWriter(w)
	lines := 0
	for lines < n {
		src := fmt.Sprintf("10.%d.%d.%d", rng.IntN(256), rng.IntN(256), rng.IntN(256))
		msg := fmt.Sprintf("Connect from user%d(unknown)@%s to 172.%d.%d.%d (%d)", rng.IntN(5000), src,
			16+rng.IntN(16), rng.IntN(256), rng.IntN(256), []int{22, 80, 443, 8080}[rng.IntN(4)])
		client := fmt.Sprintf("%s:%d", src, 1024+rng.IntN(60000))
		if rng.IntN(4) == 0 {
			fmt.Fprintf(bw, "2026-12-06T04:00:00.000000001Z INFO refused -- %s client=%s file=%s line=0\n", msg, client, refusedFile)
			lines++
			continue
		}
		fmt.Fprintf(bw, "2026-12-06T04:00:00.000000001Z INFO connected -- %s client=%s\n", msg, client)
		fmt.Fprintf(bw, "2026-12-06T04:00:01.000000001Z INFO terminated -- %s. 10 bytes from %s, 20 bytes from x client=%s\n", msg, src, client)
		lines += 2
	}
	return lines, bw.Flush()
}

// Replay times replaying data (lines lines, all parsable) against p and
// reports lines per second.
func Replay(b *testing.B, p *policy.Policy, data []byte, lines int) {
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

// Diff times policy.Diff(op, np) and reports the regions it finds.
func Diff(b *testing.B, op, np *policy.Policy) {
	b.ResetTimer()
	for b.Loop() {
		res, err := policy.Diff(op, np)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.Regions()), "regions")
	}
}
