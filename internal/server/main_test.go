package server

import (
	"flag"
	"os"
	"strconv"
	"testing"
)

// parallelTests is how many parallel tests run at once unless -parallel
// says otherwise. The default, GOMAXPROCS, suits tests that keep the
// processor busy; these mostly wait on loopback peers, timeouts and child
// processes, so more of them overlap without slowing one another.
const parallelTests = 8

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", strconv.Itoa(parallelTests))
	}
	os.Exit(m.Run())
}
