package cli

import (
	"github.com/spf13/cobra"

	"github.com/sockd/sockd/policy"
)

func init() { registerSockd(newLintCmd) }

func newLintCmd() *cobra.Command {
	var (
		confPath string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "lint [-c FILE] [--json]",
		Short: "find rules that can never match and other likely mistakes",
		Long: `lint reads a sockd.conf or sockd.fc (recognised by its content; without -c, the daemon's
lookup) and reports, positioned like compiler diagnostics with the line that explains each one:

  - rules that can never match because earlier lines cover them (shadowed), and denies that no
    request can reach because earlier permits take all of it;
  - rules fully redundant with a later one (removing them changes no decision);
  - rules that match nothing at all (for example "lt 0");
  - user files that are world-writable (anyone could add themselves) or unreadable;
  - a missing final explicit deny (the implicit default is invisible to readers).

make_sockdfc prints the same findings as warnings. Exit status: 0 no findings, 1 findings,
2 the file cannot be read.`,
		Example: `  sockd lint -c /etc/sockd.conf
  sockd lint -c /etc/sockd.fc --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			conf, _, err := loadSockdForTool(cmd, confPath)
			if err != nil {
				return err
			}
			findings := policy.Lint(conf, policy.LintOptions{})
			printDiags(cmd, findings, asJSON)
			if len(findings) > 0 {
				return exitError(ExitInvalid)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&confPath, "config", "c", "", "sockd.conf or sockd.fc to check")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the findings as a JSON array")
	return cmd
}
