package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/internal/socksify"
)

// newSocksRunCmd is `socks run`: the socksify of this toolchain.
func newSocksRunCmd(f *socksFlags) *cobra.Command {
	var preload string
	var bind bool
	cmd := &cobra.Command{
		Use:   "run [flags] -- PROGRAM [ARGS...]",
		Short: "run a program with its TCP connections sent through the servers socks.conf names",
		Long: `run starts PROGRAM with every TCP connect(2) it makes decided by socks.conf (or --proxy):
a direct line lets the call go ahead, a deny line fails it with ECONNREFUSED, a sockd line
connects the program's own socket through the chain and then answers the call (a non-blocking
socket gets EINPROGRESS and is writable at once). With --bind, a bind to port 0 of a
non-loopback address followed by listen and accept (FTP's active mode) becomes one SOCKS BIND:
getsockname names where the server listens, accept returns the one peer. UDP, Unix sockets and the loopback addresses
4.3 always reached directly (127.0.0.1, ::1) are untouched.

On Linux 5.9 and later this is a seccomp user-notification filter, so statically linked
programs (Go binaries) are covered too. Where the kernel has none, run falls back to
LD_PRELOAD of libsockswrap.so (--preload), which covers dynamically linked programs only, and
says so on stderr. The program runs with no_new_privs: set-user-ID programs do not gain
privileges under it. It is not a sandbox.

The exit status is the program's (128+N when signal N ended it); 127 when PROGRAM is not found.`,
		Example: `  socks run -c socks.conf -- curl http://intranet.example/
  socks run --proxy socks5://127.0.0.1:1080 -- python3 fetch.py
  socks run -v --proxy socks5h://proxy:1080 -- ./static-go-binary`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := exec.LookPath(args[0]); err != nil {
				// As a shell says it: 127, so that it differs from the program's own statuses.
				fmt.Fprintf(cmd.ErrOrStderr(), "socks run: %v\n", err)
				return exitError(127)
			}
			r := &socksify.Router{Proxy: f.Proxy}
			if f.Proxy == "" {
				d, err := f.client(cmd).Dialer()
				if err != nil {
					return err
				}
				r.Dialer = d
			} else if _, err := f.ProxyDialer(); err != nil {
				return usageIfBadProxy(err)
			}
			if f.verbose {
				r.Logf = func(format string, a ...any) {
					fmt.Fprintf(cmd.ErrOrStderr(), "socks run: "+format+"\n", a...)
				}
			}
			o := socksify.Options{Router: r, Stdin: cmd.InOrStdin(), Stdout: cmd.OutOrStdout(),
				Stderr: cmd.ErrOrStderr(), Timeout: f.Timeout, Preload: preload, Bind: bind}
			if o.Preload == "" {
				o.Preload = socksify.FindWrapper()
			}
			if o.Preload != "" {
				o.Env = socksify.Environ(f.Config, f.Proxy, f.Credentials)
				if bind {
					o.Env = append(o.Env, "SOCKS_BIND=1")
				}
			}
			code, err := socksify.Run(cmd.Context(), o, args)
			if err != nil {
				if errors.Is(err, socksify.ErrNoUserNotif) {
					return fmt.Errorf("%w; and no libsockswrap.so to fall back on (--preload)", err)
				}
				return err
			}
			if code != 0 {
				return exitError(code)
			}
			return nil
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().BoolVar(&bind, "bind", false, "make a bind to port 0 of a non-loopback address, then listen and accept, one SOCKS BIND (one incoming connection)")
	cmd.Flags().StringVar(&preload, "preload", "", "the LD_PRELOAD wrapper to fall back on (default: libsockswrap.so beside this binary, in ../lib, or in /usr/local/lib or /usr/lib)")
	return cmd
}

// newWrapHelperCmd is the helper of libsockswrap (hidden): the wrapper
// starts it for each connect with the program's socket as descriptor FD,
// and reads its one-line answer: DIRECT, ERR errno, or OK with the
// address the server bound (for BIND: BOUND v4|v5 address port).
func newWrapHelperCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "wrap-helper connect|bind FD HOST PORT | serve NAME - - | daemon FD - -",
		Short:  "the helper process of libsockswrap",
		Hidden: true,
		Args:   cobra.ExactArgs(4),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "serve": // start the daemon on the abstract socket args[1]
				self, err := os.Executable()
				if err != nil {
					return err
				}
				return socksify.ServeDaemonStart(self, args[1])
			case "daemon": // the daemon itself, listening on descriptor args[1]
				fd, err := strconv.Atoi(args[1])
				if err != nil {
					return usageError{err}
				}
				idle := socksify.DefaultIdle
				if v, err := time.ParseDuration(os.Getenv("SOCKS_WRAP_IDLE")); err == nil && v > 0 {
					idle = v
				}
				return socksify.ServeDaemon(fd, idle)
			}
			fmt.Fprintln(cmd.OutOrStdout(), socksify.WrapHelper(cmd.Context(), args[0], args[1], args[2], args[3]))
			return nil
		},
	}
}
