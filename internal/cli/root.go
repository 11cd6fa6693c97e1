// Package cli holds every command of the toolchain as a cobra tree. The
// mains under cmd/ only call Main, so tests drive the real commands
// in-process (testscript) exactly as a user types them.
//
// It holds the trees, their flags and help, and the checks of the flags;
// what a command does lives in a package of its own: the daemon's process
// (logs, listeners, privileges, serving, draining, --workers) in
// internal/daemon and the server in internal/server; simulate in
// internal/simulate; diff and replay output in internal/report; make_* and
// dump_* in internal/rulefile; srelay's command line in internal/srelay;
// the socks client in internal/socksclient and socks run in
// internal/socksify.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sockd/sockd/internal/rulefile"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit statuses shared by every command.
const (
	ExitOK      = 0 // success; for simulate: permitted
	ExitInvalid = 1 // invalid input, a refused file, or (simulate) refused
	ExitUsage   = 2 // bad flags or arguments
)

// exitError carries an exit status out of a RunE. Its message, if any, has
// already been printed.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError marks a mistake in the command line (exit status 2).
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// Tools lists every command name Main knows, for the mains and the tests.
var Tools = []string{"sockd", "rsockd", "srelay", "make_sockdfc", "dump_sockdfc", "make_sockdfr", "dump_sockdfr", "make_socksfc", "dump_socksfc", "socks"}

// Main runs the command called name (the program's base name) with args and
// returns its exit status.
func Main(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name = filepath.Base(name)
	if name == "srelay" {
		// srelay's command line is translated into the daemon's.
		var done bool
		var code int
		if args, done, code = srelayCommandLine(args, stdout, stderr); done {
			return code
		}
	}
	cmd := newToolCmd(name)
	if cmd == nil {
		fmt.Fprintf(stderr, "%s: unknown command name (one of %v)\n", name, Tools)
		return ExitUsage
	}
	if name == "sockd" || name == "rsockd" {
		// 4.3's "-ver" is one dash and three letters, which no flag library
		// parses as a long flag: it becomes the hidden --ver here, so that
		// it may come anywhere among the other flags, as in 4.3's argument
		// loop (sockd -ver -i, sockd -I -ver).
		args = verArgs(cmd, args)
	}
	usageArgs(cmd)
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	setVersion(cmd, name, args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	// Flag mistakes are usage errors: exit 2 with the message and a pointer to --help.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	err := cmd.Execute()
	var ee exitError
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return int(ee)
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", name, ue.error, name)
		return ExitUsage
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitInvalid
	}
}

// newToolCmd builds the cobra tree of the tool called name, one of Tools;
// nil for any other name.
func newToolCmd(name string) *cobra.Command {
	switch name {
	case "sockd", "rsockd", "srelay":
		return newSockdCmd(name)
	case "make_sockdfc", "make_sockdfr", "make_socksfc":
		return newMakeCmd(rulefile.ByTool(name))
	case "dump_sockdfc", "dump_sockdfr", "dump_socksfc":
		return newDumpCmd(rulefile.ByTool(name))
	case "socks":
		return newSocksCmd()
	}
	return nil
}

// verArgs spells each "-ver" of the daemon's flags as "--ver" (not after
// "--", and not as the value of a flag that takes one).
func verArgs(cmd *cobra.Command, args []string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if a == "-ver" && (i == 0 || !flagTakesValue(cmd, out[i-1])) {
			out[i] = "--ver"
		}
	}
	return out
}

// flagTakesValue: a, written without "=", is a flag of cmd whose value is
// the next argument.
func flagTakesValue(cmd *cobra.Command, a string) bool {
	if !strings.HasPrefix(a, "-") || strings.Contains(a, "=") {
		return false
	}
	var f *pflag.Flag
	if name, ok := strings.CutPrefix(a, "--"); ok {
		f = cmd.Flags().Lookup(name)
	} else if len(a) >= 2 {
		// -c or a cluster such as -Ic: the last letter may take the value.
		f = cmd.Flags().ShorthandLookup(a[len(a)-1:])
	}
	return f != nil && f.NoOptDefVal == ""
}

// usageArgs makes a wrong number of arguments a usage error (exit 2) in
// every command of the tree, as flag mistakes already are.
func usageArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// RunAs is Main for a real process built as the command name. The sockd
// binary started under the name rsockd (a link, as 4.3 installed it) runs
// as rsockd.
func RunAs(name string) int {
	if base := filepath.Base(os.Args[0]); name == "sockd" && (base == "rsockd" || base == "srelay") {
		name = base
	}
	return Main(name, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

// The daemon and its subcommands live in their own files and attach
// themselves here from init functions, so that each can be read alone:
//   - sockdServe adds the daemon's flags and RunE to the root command;
//   - sockdVer returns the 4.3-style build description for "sockd -ver";
//   - registerSockd adds a subcommand (simulate, lint, passwd, ...).
var (
	sockdServe       func(root *cobra.Command)
	sockdVer         func(socksified, inetd bool) string
	sockdSubcommands []func() *cobra.Command
)

func registerSockd(f func() *cobra.Command) { sockdSubcommands = append(sockdSubcommands, f) }

func newSockdCmd(name string) *cobra.Command {
	root := &cobra.Command{
		Use:   name + " [flags]",
		Short: "SOCKS4, SOCKS4a and SOCKS5 server compatible with the CSTC SOCKS 4.3 files",
		Long: name + ` serves SOCKS4, SOCKS4a and SOCKS5 on one port and decides every request with
the rules of a 4.3 sockd.conf (text) or sockd.fc (frozen) file.

Without -c it reads /etc/sockd.fc, then /etc/sockd.conf, as 4.3 did; with neither, it uses an
embedded default that permits loopback clients only, and listens on 127.0.0.1:1080.
"` + name + ` -ver" prints the build description as 4.3 did.`,
		Args: cobra.NoArgs,
	}
	if sockdServe != nil {
		sockdServe(root)
	}
	for _, f := range sockdSubcommands {
		root.AddCommand(f())
	}
	return root
}
