package grammar

import (
	"fmt"
	"strings"
	"testing"
)

// genSockd builds an n-rule sockd.conf with a realistic mix of forms.
func genSockd(n int) []byte {
	var b strings.Builder
	b.WriteString("#NO_IDENTD: echo no identd on %A\n")
	for i := range n {
		a, c := byte(i>>8), byte(i)
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, "permit ?=i *=alice,bob 10.%d.%d.0 255.255.255.0 0.0.0.0 0.0.0.0 eq telnet\n", a, c)
		case 1:
			fmt.Fprintf(&b, "deny 10.%d.%d.0/24 192.168.0.0/16 lt 1024 : echo refused %%u@%%A\n", a, c)
		case 2:
			fmt.Fprintf(&b, "permit\t.host%d.example 0.0.0.0\tge 1024   # a comment\n", i)
		case 3:
			fmt.Fprintf(&b, "permit 2001:db8:%x::/48 ::/0 neq %d\n", i%65536, i%65536)
		default:
			fmt.Fprintf(&b, "PERMIT 172.16.%d.%d 255.255.255.255\n", a, c)
		}
	}
	return []byte(b.String())
}

// BenchmarkParseSockd100k compiles a generated 100,000-rule file.
func BenchmarkParseSockd100k(b *testing.B) {
	src := genSockd(100_000)
	opts := testOptions()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		conf, diags := ParseSockd("big.conf", src, opts)
		if conf == nil || len(conf.Rules) != 100_000 || len(diags) != 0 {
			b.Fatalf("%d diagnostics: %v", len(diags), diags.Err())
		}
	}
}

// The parser is linear: ten times the rules take about ten times as long,
// not a hundred. Measured in allocations, which do not depend on the
// machine's load.
func TestParseIsLinear(t *testing.T) {
	allocs := func(n int) float64 {
		src := genSockd(n)
		return testing.AllocsPerRun(1, func() { ParseSockd("f", src, testOptions()) })
	}
	small, big := allocs(1000), allocs(10000)
	if ratio := big / small; ratio > 12 {
		t.Errorf("10x the rules took %.1fx the allocations", ratio)
	}
}
