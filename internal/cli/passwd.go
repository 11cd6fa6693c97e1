package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/internal/auth"
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
			pw, err := readNewPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
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

// readNewPassword reads the password: from a terminal, twice and without
// echo; from anything else, the first line.
func readNewPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(prompt, "New password: ")
		first, err := readNoEcho(f)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		fmt.Fprint(prompt, "Retype new password: ")
		second, err := readNoEcho(f)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		if first != second {
			return "", errors.New("the passwords differ")
		}
		return first, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if errors.Is(err, io.EOF) && line == "" {
		// Say what is missing, not the reader's bare "EOF".
		return "", errors.New("no password on standard input (it is empty)")
	}
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty password")
	}
	return line, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// readNoEcho reads one line from the terminal with echo turned off, and
// turns it back on whatever happens.
func readNoEcho(f *os.File) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	var b []byte
	var one [1]byte
	for len(b) < 1024 {
		n, err := f.Read(one[:])
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			b = append(b, one[0])
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(b) > 0 {
				break
			}
			return "", err
		}
	}
	return strings.TrimRight(string(b), "\r"), nil
}
