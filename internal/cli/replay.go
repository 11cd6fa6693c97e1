package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/internal/replay"
	"github.com/sockd/sockd/internal/report"
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
				p, _, err := loadPolicy(cmd, path, mode)
				return p, err
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
			if err := report.Replay(cmd.OutOrStdout(), rep, asJSON); err != nil {
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
