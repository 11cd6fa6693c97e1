package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/internal/replay"
	"github.com/sockd/sockd/policy"
)

func init() { registerSockd(newReplayCmd) }

func newReplayCmd() *cobra.Command {
	var (
		newPath, oldPath        string
		lenient, strict, asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "replay -c NEW [--against OLD] LOG...",
		Short: "decide the requests of a log again under other rules",
		Long: `replay reads sockd logs (text, JSON, syslog or journal lines, plain or gzip; - for standard
input) and SOCKS 4.3 syslog lines, rebuilds each logged request once (a session's connected and
terminated lines are one request), decides it under NEW, and compares with its decision under OLD
(--against) or, without it, with the logged outcome.

It prints a summary (total, unchanged, newly_refused, newly_permitted, unparsable) and the changed
requests grouped by old and new deciding line, each group with its count and an example in the flag
syntax of sockd simulate. Lines that record no request are counted as other; request lines that
cannot be read are counted as unparsable and shown, never dropped silently.

What a log does not say is assumed: a destination logged by name has no address (so address/mask
lines do not match it), identd's answer is the logged user, or the claimed user when the log says
unknown.

Exit status: 0 nothing changes, 1 some requests change, 2 usage or config error.`,
		Example: `  sockd replay -c sockd.conf.new /var/log/sockd.log /var/log/sockd.log.1.gz
  sockd replay -c sockd.conf.new --against /etc/sockd.fc --json sockd.json.log`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode, err := identMode(lenient, strict)
			if err != nil {
				return err
			}
			if newPath == "" {
				return usagef("-c NEW is required")
			}
			compile := func(path string) (*policy.Policy, error) {
				conf, _, err := loadSockdForTool(cmd, path)
				if err != nil {
					return nil, err
				}
				p, err := policy.New(conf, policy.Options{IdentMode: mode, Pid: os.Getpid()})
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "sockd replay: %s: %v\n", path, err)
					return nil, exitError(ExitUsage)
				}
				return p, nil
			}
			var rp replay.Replayer
			if rp.New, err = compile(newPath); err != nil {
				return err
			}
			if oldPath != "" {
				if rp.Old, err = compile(oldPath); err != nil {
					return err
				}
			}
			for _, name := range args {
				if err := replayFile(cmd, &rp, name); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "sockd replay: %v\n", err)
					return exitError(ExitUsage)
				}
			}
			rep := rp.Report()
			out := cmd.OutOrStdout()
			if asJSON {
				err = writeReplayJSON(out, rep)
			} else {
				writeReplayText(out, rep)
			}
			if err != nil {
				return err
			}
			if len(rep.Groups) > 0 {
				return exitError(ExitInvalid)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&newPath, "config", "c", "", "the new sockd.conf or sockd.fc (required)")
	fs.StringVar(&oldPath, "against", "", "decide under this file too, instead of taking the logged outcome")
	fs.BoolVarP(&lenient, "lenient-ident", "i", false, "as sockd -i")
	fs.BoolVarP(&strict, "strict-ident", "I", false, "as sockd -I")
	fs.BoolVar(&asJSON, "json", false, "one JSON object per group, then one summary object")
	return cmd
}

func replayFile(cmd *cobra.Command, rp *replay.Replayer, name string) error {
	if name == "-" {
		return rp.Read("<stdin>", cmd.InOrStdin())
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return rp.Read(name, f)
}

func writeReplayText(w io.Writer, rep *replay.Report) {
	s := rep.Summary
	fmt.Fprintf(w, "total %d, unchanged %d, newly_refused %d, newly_permitted %d, unparsable %d (%d lines read, %d other)\n",
		s.Total, s.Unchanged, s.NewlyRefused, s.NewlyPermitted, s.Unparsable, s.Lines, s.Other)
	for _, g := range rep.Groups {
		fmt.Fprintf(w, "%s -> %s: %d request%s\n", g.Old, g.New, g.Count, plural(g.Count))
		fmt.Fprintf(w, "  example (%s): %s\n", g.Example.Where, shellJoin(g.Example.Args()))
	}
	for _, b := range rep.Bad {
		fmt.Fprintf(w, "unparsable: %s: %s\n  %s\n", b.Where, b.Why, b.Text)
	}
	if s.Unparsable > len(rep.Bad) {
		fmt.Fprintf(w, "unparsable: %d more not shown\n", s.Unparsable-len(rep.Bad))
	}
}

func writeReplayJSON(w io.Writer, rep *replay.Report) error {
	enc := json.NewEncoder(w)
	type side struct {
		Decision string `json:"decision"` // permit or deny
		Line     int    `json:"line"`     // 0 the implicit default, -1 not logged
	}
	sideOf := func(o replay.Outcome) side {
		d := "deny"
		if o.Permit {
			d = "permit"
		}
		return side{d, o.Line}
	}
	for _, g := range rep.Groups {
		if err := enc.Encode(struct {
			Old     side     `json:"old"`
			New     side     `json:"new"`
			Count   int      `json:"count"`
			Example []string `json:"example"`
			Where   string   `json:"where"`
		}{sideOf(g.Old), sideOf(g.New), g.Count, g.Example.Args(), g.Example.Where}); err != nil {
			return err
		}
	}
	type bad struct {
		Where string `json:"where"`
		Why   string `json:"why"`
		Text  string `json:"text"`
	}
	bads := []bad{}
	for _, b := range rep.Bad {
		bads = append(bads, bad{b.Where, b.Why, b.Text})
	}
	return enc.Encode(struct {
		Summary         replay.Summary `json:"summary"`
		UnparsableLines []bad          `json:"unparsable_lines"`
	}{rep.Summary, bads})
}
