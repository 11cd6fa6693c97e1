package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/frozen"
	"github.com/sockd/sockd/grammar"
	"github.com/sockd/sockd/internal/atomicfile"
	"github.com/sockd/sockd/internal/confjson"
	"github.com/sockd/sockd/internal/diag"
	"github.com/sockd/sockd/internal/version"
)

// fileKind describes one of the three file pairs (text and frozen) and how
// each tool handles it, so that make_* and dump_* are written once.
type fileKind struct {
	kind             frozen.Kind
	textName         string // "sockd.conf"
	frozenName       string // "sockd.fc"
	defText, defFroz string // 4.3's default paths
	makeTool         string
	dumpTool         string
	parse            func(name string, src []byte, opts grammar.Options) (any, diag.List)
	put              func(f *frozen.File, c any)
	get              func(f *frozen.File) any
	write            func(w io.Writer, c any) error
	jsonRules        func(c any) any
}

var fileKinds = []fileKind{
	{
		kind: frozen.KindSockdFC, textName: "sockd.conf", frozenName: "sockd.fc",
		defText: "/etc/sockd.conf", defFroz: "/etc/sockd.fc", makeTool: "make_sockdfc", dumpTool: "dump_sockdfc",
		parse: func(n string, s []byte, o grammar.Options) (any, diag.List) {
			c, l := grammar.ParseSockd(n, s, o)
			if c != nil && sockdLint != nil {
				l = append(l, sockdLint(c)...)
				l.Sort()
			}
			return c, l
		},
		put:       func(f *frozen.File, c any) { f.Sockd = c.(*config.SockdConf) },
		get:       func(f *frozen.File) any { return f.Sockd },
		write:     func(w io.Writer, c any) error { return config.WriteSockd(w, c.(*config.SockdConf)) },
		jsonRules: func(c any) any { return confjson.Sockd(c.(*config.SockdConf)) },
	},
	{
		kind: frozen.KindSockdFR, textName: "sockd.route", frozenName: "sockd.fr",
		defText: "/etc/sockd.route", defFroz: "/etc/sockd.fr", makeTool: "make_sockdfr", dumpTool: "dump_sockdfr",
		parse: func(n string, s []byte, o grammar.Options) (any, diag.List) {
			return grammar.ParseRoute(n, s, o)
		},
		put:       func(f *frozen.File, c any) { f.Route = c.(*config.RouteConf) },
		get:       func(f *frozen.File) any { return f.Route },
		write:     func(w io.Writer, c any) error { return config.WriteRoute(w, c.(*config.RouteConf)) },
		jsonRules: func(c any) any { return confjson.Routes(c.(*config.RouteConf)) },
	},
	{
		kind: frozen.KindSocksFC, textName: "socks.conf", frozenName: "socks.fc",
		defText: "/etc/socks.conf", defFroz: "/etc/socks.fc", makeTool: "make_socksfc", dumpTool: "dump_socksfc",
		parse: func(n string, s []byte, o grammar.Options) (any, diag.List) {
			return grammar.ParseSocks(n, s, o)
		},
		put:       func(f *frozen.File, c any) { f.Socks = c.(*config.SocksConf) },
		get:       func(f *frozen.File) any { return f.Socks },
		write:     func(w io.Writer, c any) error { return config.WriteSocks(w, c.(*config.SocksConf)) },
		jsonRules: func(c any) any { return confjson.Socks(c.(*config.SocksConf)) },
	},
}

// sockdLint, when set by lint.go, adds the linter's warnings to every
// make_sockdfc build.
var sockdLint func(*config.SockdConf) diag.List

func kindOfTool(name string) fileKind {
	for _, k := range fileKinds {
		if k.makeTool == name || k.dumpTool == name {
			return k
		}
	}
	panic("no file kind for " + name)
}

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

func newMakeCmd(k fileKind) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   k.makeTool + " [infile [outfile]]",
		Short: "compile a " + k.textName + " into a frozen " + k.frozenName,
		Long: k.makeTool + ` compiles ` + k.textName + ` text into a frozen ` + k.frozenName + ` file that loads fast and
safely: a checked header (magic, format version, length, SHA-256) and the rules. Every error of the
file is reported, compiler-style; when there is any, nothing is written and the exit status is 1.
Warnings do not stop the build. The output is replaced atomically, so an interrupted or failed
build never leaves a partial file or replaces a good one. "-" means standard input or output.`,
		Example: fmt.Sprintf(`  %[1]s                           # %[2]s -> %[3]s
  %[1]s %[4]s %[5]s       # explicit files
  %[1]s --json %[4]s /tmp/x  # diagnostics as a JSON array on stderr
  cat %[4]s | %[1]s - -     # filter: text in, frozen out`, k.makeTool, k.defText, k.defFroz, k.textName, k.frozenName),
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, out := k.defText, k.defFroz
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
			conf, diags := k.parse(name, src, grammar.Options{})
			printDiags(cmd, diags, asJSON)
			if diags.HasErrors() {
				if !asJSON {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s not written\n", k.makeTool, out)
				}
				return exitError(ExitInvalid)
			}
			f := &frozen.File{Kind: k.kind, Meta: frozen.Meta{Source: name, SourceSHA256: frozen.HashSource(src), Compiler: version.Compiler}}
			k.put(f, conf)
			data, err := frozen.Encode(f)
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

func newDumpCmd(k fileKind) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   k.dumpTool + " [infile]",
		Short: "print a frozen " + k.frozenName + " as canonical " + k.textName + " text",
		Long: k.dumpTool + ` prints the rules of a frozen ` + k.frozenName + ` file as canonical ` + k.textName + ` text,
which compiles back to the same rules (dump, make, dump gives the same rules again). A header
comment names the source file, its SHA-256 and the format version. When the text file beside the
frozen file has changed since it was compiled, a warning says so on stderr. --json prints the
structured form instead.`,
		Example: fmt.Sprintf(`  %[1]s                  # dump %[2]s
  %[1]s %[3]s > copy.txt
  %[1]s --json %[3]s | jq '.rules[0]'`, k.dumpTool, k.defFroz, k.frozenName),
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := k.defFroz
			if len(args) > 0 {
				in = args[0]
			}
			name, data, err := readInput(cmd, in)
			if err != nil {
				return err
			}
			f, err := frozen.DecodeKind(data, k.kind)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if in != "-" {
				if st := frozen.CheckStale(in, f); st.Stale {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: warning: %s is stale: %s has changed since it was compiled; rebuild it with %s\n",
						k.dumpTool, in, st.TextPath, k.makeTool)
				}
			}
			conf := k.get(f)
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]any{
					"kind": f.Kind.String(), "format_version": f.Version,
					"source": f.Meta.Source, "source_sha256": f.Meta.SourceSHA256, "compiler": f.Meta.Compiler,
					"rules": k.jsonRules(conf),
				})
			}
			var b bytes.Buffer
			fmt.Fprintf(&b, "# %s: %s, format version %d, written by %s\n", name, f.Kind, f.Version, f.Meta.Compiler)
			fmt.Fprintf(&b, "# compiled from %s (sha256 %s)\n", f.Meta.Source, f.Meta.SourceSHA256)
			if err := k.write(&b, conf); err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b.Bytes())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the structured form as JSON")
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
