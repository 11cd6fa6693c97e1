package load_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockd/sockd/frozen"
	"github.com/sockd/sockd/grammar"
	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/policy"
)

// bigFiles writes an n-line sockd.conf and its frozen sockd.fc beside it.
func bigFiles(b *testing.B, n int) (text, fc string) {
	b.Helper()
	var s strings.Builder
	for i := range n {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&s, "deny 10.%d.%d.7 255.255.255.255\n", (i>>8)&255, i&255)
		case 1:
			fmt.Fprintf(&s, "permit 10.%d.%d.0 255.255.255.0 172.16.%d.0 255.255.255.0 eq 443\n", (i>>8)&255, i&255, i&255)
		case 2:
			fmt.Fprintf(&s, "permit *=user%d,user%d 2001:db8:%x::/48 ::/0 ge 1024\n", i, i+1, i&0xffff)
		default:
			fmt.Fprintf(&s, "deny 10.%d.%d.0/24 192.168.0.0/16 lt 1024 : echo refused %%u@%%A\n", (i>>8)&255, i&255)
		}
	}
	dir := b.TempDir()
	text, fc = filepath.Join(dir, "sockd.conf"), filepath.Join(dir, "sockd.fc")
	src := []byte(s.String())
	if err := os.WriteFile(text, src, 0o644); err != nil {
		b.Fatal(err)
	}
	conf, diags := grammar.ParseSockd(text, src, grammar.Options{})
	if diags.HasErrors() {
		b.Fatal(diags.Err())
	}
	data, err := frozen.Encode(&frozen.File{Kind: frozen.KindSockdFC, Sockd: conf,
		Meta: frozen.Meta{Source: "sockd.conf", SourceSHA256: frozen.HashSource(src), Compiler: "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(fc, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return text, fc
}

// startCost is what the daemon does at start and on SIGHUP: load the file
// (frozen: checksum, decode, staleness check; text: compile) and build the
// decision index.
func startCost(b *testing.B, path string) {
	b.ReportAllocs()
	for b.Loop() {
		conf, origin, err := load.Sockd(path, load.Options{})
		if err != nil || origin.Stale.Stale {
			b.Fatalf("load: %v (stale %v)", err, origin.Stale.Stale)
		}
		if _, err := policy.New(conf, policy.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStartFrozen100k(b *testing.B) {
	_, fc := bigFiles(b, 100_000)
	startCost(b, fc)
}

func BenchmarkStartText100k(b *testing.B) {
	text, _ := bigFiles(b, 100_000)
	startCost(b, text)
}
