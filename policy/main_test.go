package policy_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain raises rapid's default of 100 cases: the equivalence of the
// index and the naive loop, and the soundness of Lint, deserve thousands of
// random configurations. An explicit -rapid.checks still wins.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if !set && !testing.Short() {
		if err := flag.Set("rapid.checks", "1500"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
