package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/frozen"
	"github.com/sockd/sockd/internal/atomicfile"
	"github.com/sockd/sockd/internal/diag"
	"github.com/sockd/sockd/internal/rulefile"
)

// readInput reads a file, or standard input for "-". The name returned is
// what diagnostics show.
func readInput(cmd *cobra.Command, path string) (name string, data []byte, err error) {
	if path == "-" {
		data, err = io.ReadAll(cmd.InOrStdin())
		return "<stdin>", data, err
	}
	data, err = os.ReadFile(path)
	return path, data, err
}

// printDiags writes diagnostics to stderr in the chosen form.
func printDiags(cmd *cobra.Command, l diag.List, asJSON bool) {
	if asJSON {
		l.WriteJSON(cmd.ErrOrStderr())
		return
	}
	l.WriteText(cmd.ErrOrStderr())
}

func newMakeCmd(k rulefile.Kind) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   k.MakeTool + " [infile [outfile]]",
		Short: "compile a " + k.TextName + " into a frozen " + k.FrozenName,
		Long: k.MakeTool + ` compiles ` + k.TextName + ` text into a frozen ` + k.FrozenName + ` file that loads fast and
safely: a checked header (magic, format version, length, SHA-256) and the rules. Every error of the
file is reported, compiler-style; when there is any, nothing is written and the exit status is 1.
Warnings do not stop the build. The output is replaced atomically, so an interrupted or failed
build never leaves a partial file or replaces a good one. "-" means standard input or output.`,
		Example: fmt.Sprintf(`  %[1]s                           # %[2]s -> %[3]s
  %[1]s %[4]s %[5]s       # explicit files
  %[1]s --json %[4]s /tmp/x  # diagnostics as a JSON array on stderr
  cat %[4]s | %[1]s - -     # filter: text in, frozen out`, k.MakeTool, k.DefText, k.DefFrozen, k.TextName, k.FrozenName),
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, out := k.DefText, k.DefFrozen
			if len(args) > 0 {
				in = args[0]
			}
			if len(args) > 1 {
				out = args[1]
			}
			name, src, err := readInput(cmd, in)
			if err != nil {
				return err
			}
			data, diags, err := k.Compile(name, src)
			printDiags(cmd, diags, asJSON)
			if diags.HasErrors() {
				if !asJSON {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s not written\n", k.MakeTool, out)
				}
				return exitError(ExitInvalid)
			}
			if err != nil {
				return err
			}
			if out == "-" {
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			return atomicfile.WriteFile(out, data, 0o644)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print diagnostics as a JSON array")
	return cmd
}

func newDumpCmd(k rulefile.Kind) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   k.DumpTool + " [infile]",
		Short: "print a frozen " + k.FrozenName + " as canonical " + k.TextName + " text",
		Long: k.DumpTool + ` prints the rules of a frozen ` + k.FrozenName + ` file as canonical ` + k.TextName + ` text,
which compiles back to the same rules (dump, make, dump gives the same rules again). A header
comment names the source file, its SHA-256 and the format version. When the text file beside the
frozen file has changed since it was compiled, a warning says so on stderr. --json prints the
structured form instead.`,
		Example: fmt.Sprintf(`  %[1]s                  # dump %[2]s
  %[1]s %[3]s > copy.txt
  %[1]s --json %[3]s | jq '.rules[0]'`, k.DumpTool, k.DefFrozen, k.FrozenName),
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := k.DefFrozen
			if len(args) > 0 {
				in = args[0]
			}
			name, data, err := readInput(cmd, in)
			if err != nil {
				return err
			}
			f, err := frozen.DecodeKind(data, k.Frozen)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if in != "-" {
				if st := frozen.CheckStale(in, f); st.Stale {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: warning: %s is stale: %s has changed since it was compiled; rebuild it with %s\n",
						k.DumpTool, in, st.TextPath, k.MakeTool)
				}
			}
			return k.Dump(cmd.OutOrStdout(), name, f, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the structured form as JSON")
	return cmd
}
