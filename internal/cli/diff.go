package cli

import (
	"github.com/spf13/cobra"

	"github.com/sockd/sockd/internal/report"
	"github.com/sockd/sockd/policy"
)

func init() { registerSockd(newDiffCmd) }

func newDiffCmd() *cobra.Command {
	var lenient, strict, asJSON bool
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "show exactly which requests two rule files decide differently",
		Long: `diff compares two sockd.conf files (text or frozen, either side) and prints every set of
requests whose decision differs: permitted by one and refused by the other, or decided by lines
with a different identd mode or shell command. The result is exact, not sampled: address masks
(contiguous or not), host name patterns and user lists are reasoned about symbolically.

The differences are grouped by the pair of deciding lines (old -> new). Each region is a source x
destination x port range x user set, minus the requests that earlier lines of either file decide
first, and comes with an example request in the flag syntax of sockd simulate, which has been
decided by the same decision function under both files before it is printed.

Exit status: 0 no difference, 1 differences, 2 usage or config error.`,
		Example: `  sockd diff /etc/sockd.conf sockd.conf.new
  sockd diff --json /etc/sockd.fc sockd.conf.new`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode, err := identMode(lenient, strict)
			if err != nil {
				return err
			}
			var pols [2]*policy.Policy
			for k, path := range args {
				if pols[k], _, err = loadPolicy(cmd, path, mode); err != nil {
					return err
				}
			}
			res, err := policy.Diff(pols[0], pols[1])
			if err != nil {
				return err
			}
			if err := report.Diff(cmd.OutOrStdout(), args[0], args[1], res, asJSON); err != nil {
				return err
			}
			if len(res.Pairs) > 0 {
				return exitError(ExitInvalid)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&lenient, "lenient-ident", "i", false, "as sockd -i: permit lines without ?= ask identd leniently (both files)")
	fs.BoolVarP(&strict, "strict-ident", "I", false, "as sockd -I: permit lines without ?= ask identd strictly (both files)")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}
