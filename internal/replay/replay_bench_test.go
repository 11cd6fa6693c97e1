package replay_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockd/sockd/internal/benchdata"
	"github.com/sockd/sockd/policy"
)

// bigPolicy compiles an n-line file in the shapes of bench's large site.
func bigPolicy(b *testing.B, n int) *policy.Policy {
	rng := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	for i := 0; i < n-1; i++ {
		switch k := rng.IntN(100); {
		case k < 3:
			fmt.Fprintf(&sb, "deny 10.%d.%d.%d 255.255.255.255\n", rng.IntN(256), rng.IntN(256), rng.IntN(256))
		case k < 80:
			fmt.Fprintf(&sb, "permit 10.%d.%d.0 255.255.255.0 172.%d.%d.0 255.255.255.0 eq %d\n",
				rng.IntN(256), rng.IntN(256), 16+rng.IntN(16), rng.IntN(256), []int{22, 80, 443}[rng.IntN(3)])
		case k < 90:
			fmt.Fprintf(&sb, "permit *=user%d 10.%d.%d.0/24 192.168.%d.0/24 lt 1024\n", rng.IntN(5000), rng.IntN(256), rng.IntN(256), rng.IntN(256))
		default:
			fmt.Fprintf(&sb, "permit 10.%d.0.0/16 172.%d.0.0/16 ge 1024\n", rng.IntN(256), 16+rng.IntN(16))
		}
	}
	sb.WriteString("deny 0.0.0.0 0.0.0.0\n")
	path := filepath.Join(b.TempDir(), "big.conf")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return benchdata.Policy(b, path)
}

// BenchmarkReplay100k replays 200,000 text log lines (100,000 sessions of
// a connected and a terminated line, with refusals between) against a
// 100,000-line file, and reports lines per second (the issue asks for
// 200,000).
func BenchmarkReplay100k(b *testing.B) {
	p := bigPolicy(b, 100_000)
	data, lines := benchdata.ReplayLog(200_000, "/etc/sockd.conf")
	benchdata.Replay(b, p, data, lines)
}
