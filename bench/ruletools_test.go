package main

import (
	"path/filepath"
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

func BenchmarkDiff10kEdit(b *testing.B) { benchDiff10k(b, editLines) }

// BenchmarkDiff10kUnrelated diffs the same lines in another order: most
// pairs of lines now differ.
func BenchmarkDiff10kUnrelated(b *testing.B) { benchDiff10k(b, shuffleLines) }

// benchDiff10k diffs a 10,000-line file against what rewrite makes of it.
func benchDiff10k(b *testing.B, rewrite func([]string) []string) {
	dir := b.TempDir()
	oldPath, newPath := filepath.Join(dir, "old.conf"), filepath.Join(dir, "new.conf")
	writeBigConf(oldPath, 10_000)
	if err := rewriteLines(oldPath, newPath, rewrite); err != nil {
		b.Fatal(err)
	}
	benchdata.Diff(b, benchdata.Policy(b, oldPath), benchdata.Policy(b, newPath))
}

func BenchmarkReplay100k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.conf")
	writeBigConf(path, 100_000)
	p := benchdata.Policy(b, path)
	data, lines := benchdata.ReplayLog(200_000, "big.conf")
	benchdata.Replay(b, p, data, lines)
}
