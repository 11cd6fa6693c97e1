package cli

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript run the real commands in-process: each tool name
// in a script's "exec" line re-enters this test binary as that command.
func TestMain(m *testing.M) {
	// A test that needs a command in a process of its own (one that drops
	// privileges, or runs in another network namespace) re-executes this
	// binary with SOCKD_CLI_MAIN naming the command.
	if name := os.Getenv("SOCKD_CLI_MAIN"); name != "" {
		os.Exit(Main(name, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	cmds := map[string]func(){}
	for _, name := range Tools {
		cmds[name] = func() { os.Exit(Main(name, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
	}
	testscript.Main(removeBuiltAfter{m}, cmds)
}

// removeBuiltAfter removes what the tests built once (srelayBinary) after
// they ran: testscript.Main ends the process with os.Exit, which runs no
// deferred calls or cleanups.
type removeBuiltAfter struct{ m *testing.M }

func (r removeBuiltAfter) Run() int {
	code := r.m.Run()
	srelayBuilt.Remove()
	return code
}

var update = flag.Bool("update", false, "rewrite golden outputs from the current behaviour")

// TestScripts runs testdata/script/*.txtar. Run with -update to rewrite the
// expected outputs from what the commands print (then review the diff).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"expand":     expandCmd,
			"flipbyte":   flipByteCmd,
			"truncate":   truncateCmd,
			"nocomments": noCommentsCmd,
		},
	})
}

// expand IN OUT copies IN to OUT with $VARIABLES replaced from the script's
// environment, so that configs can name files under $WORK.
func expandCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: expand IN OUT")
	}
	out := os.Expand(ts.ReadFile(args[0]), ts.Getenv)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(out), 0o644))
}

// byteCmd is a script command FILE N that rewrites FILE as edit makes it;
// a negative N counts from the end.
func byteCmd(usage string, edit func(data []byte, n int) []byte) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: %s", usage)
		}
		path := ts.MkAbs(args[0])
		data, err := os.ReadFile(path)
		ts.Check(err)
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		if n < 0 {
			n += len(data)
		}
		ts.Check(os.WriteFile(path, edit(data, n), 0o644))
	}
}

// flipbyte FILE OFFSET inverts one byte: a damaged file.
var flipByteCmd = byteCmd("flipbyte FILE OFFSET", func(data []byte, off int) []byte {
	data[off] ^= 0xff
	return data
})

// truncate FILE N keeps the first N bytes (N < 0: drop -N bytes at the end).
var truncateCmd = byteCmd("truncate FILE N", func(data []byte, n int) []byte { return data[:n] })

// nocomments IN OUT drops the lines starting with "# " (a dump's header
// comments), keeping #NO_IDENTD: and #BAD_ID: lines.
func noCommentsCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: nocomments IN OUT")
	}
	var keep []string
	for _, l := range strings.SplitAfter(ts.ReadFile(args[0]), "\n") {
		if !strings.HasPrefix(l, "# ") {
			keep = append(keep, l)
		}
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(strings.Join(keep, "")), 0o644))
}
