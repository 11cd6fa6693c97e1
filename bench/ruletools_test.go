package main

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockd/sockd/internal/benchdata"
)

// The rule-change tools on the large-site files of the config-scale
// workload (writeBigConf). Figures measured on the 2-core machine:
//
//	BenchmarkDiff10kEdit       0.24 s  a 10,000-line file against itself after 8 edits, 138 regions (issue: under 10 s)
//	BenchmarkDiff10kUnrelated  0.50 s  the same lines shuffled: 14,961 regions
//	BenchmarkReplay100k        529,000 log lines/s against a 100,000-line file (issue: 200,000)
//
// go test ./bench -run XXX -bench 'Diff10k|Replay100k' -benchtime 1x

// editLines is a typical change of the lines of a file: a line inserted
// at the top, three removed, four actions flipped and one port test
// widened.
func editLines(lines []string) []string {
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
	return append([]string{"deny 10.9.0.0 255.255.0.0"}, lines...)
}

// rewriteLines writes path's lines, changed by edit, to out.
func rewriteLines(b *testing.B, path, out string, edit func([]string) []string) {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	lines := edit(strings.Split(strings.TrimRight(string(data), "\n"), "\n"))
	if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkDiff10kEdit(b *testing.B) {
	dir := b.TempDir()
	oldPath, newPath := filepath.Join(dir, "old.conf"), filepath.Join(dir, "new.conf")
	writeBigConf(oldPath, 10_000)
	rewriteLines(b, oldPath, newPath, editLines)
	benchdata.Diff(b, benchdata.Policy(b, oldPath), benchdata.Policy(b, newPath))
}

func BenchmarkDiff10kUnrelated(b *testing.B) {
	dir := b.TempDir()
	oldPath, newPath := filepath.Join(dir, "old.conf"), filepath.Join(dir, "new.conf")
	writeBigConf(oldPath, 10_000)
	// The same lines in another order: most pairs of lines now differ.
	rewriteLines(b, oldPath, newPath, func(lines []string) []string {
		rng := rand.New(rand.NewPCG(7, 8))
		rng.Shuffle(len(lines)-1, func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
		return lines
	})
	benchdata.Diff(b, benchdata.Policy(b, oldPath), benchdata.Policy(b, newPath))
}

func BenchmarkReplay100k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.conf")
	writeBigConf(path, 100_000)
	p := benchdata.Policy(b, path)
	data, lines := benchdata.ReplayLog(200_000, "big.conf")
	benchdata.Replay(b, p, data, lines)
}
