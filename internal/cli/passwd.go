package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"

	"github.com/sockd/sockd/internal/auth"
	"github.com/sockd/sockd/internal/pwprompt"
)

func init() { registerSockd(newPasswdCmd) }

// DefaultPasswdFile is where "sockd passwd" writes without --file.
const DefaultPasswdFile = "/etc/sockd.passwd"

func newPasswdCmd() *cobra.Command {
	var file string
	var cost int
	cmd := &cobra.Command{
		Use:   "passwd [--file FILE] USER",
		Short: "create or change a user's password for SOCKS5 username/password authentication",
		Long: `passwd sets USER's password in the daemon's password file (default ` + DefaultPasswdFile + `),
creating the file (mode 0600) if needed. The password is read from standard input (its first
line), or asked twice at a prompt when standard input is a terminal. Only a bcrypt hash is
stored. Send the daemon SIGHUP to make it reread the file.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("passwd takes one user name, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			user := args[0]
			if err := auth.ValidUser(user); err != nil {
				return usageError{err}
			}
			// bcrypt would quietly take a cost under its minimum as its
			// default: a typo in --cost must not store a hash the user
			// did not ask for.
			if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
				return usagef("--cost must be between %d and %d, got %d", bcrypt.MinCost, bcrypt.MaxCost, cost)
			}
			pw, err := pwprompt.ReadNew(cmd.InOrStdin(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := auth.SetPassword(file, user, pw, cost); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "password of %s set in %s\n", user, file)
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", DefaultPasswdFile, "the password file")
	cmd.Flags().IntVar(&cost, "cost", auth.DefaultCost, "bcrypt cost (4-31; each step doubles the work)")
	return cmd
}
