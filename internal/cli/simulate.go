package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/internal/simulate"
	"github.com/sockd/sockd/policy"
)

func init() { registerSockd(newSimulateCmd) }

func newSimulateCmd() *cobra.Command {
	var (
		req            simulate.Request
		confPath       string
		lenient        bool
		strict         bool
		asJSON         bool
		batch          string
		noTrace        bool
		fullTrace      bool
		clientPath     string
		srelayPath     string
		defaultServers []string
	)
	cmd := &cobra.Command{
		Use:   "simulate [-c FILE] --from ADDR --to HOST|ADDR --port PORT|SERVICE [flags]",
		Short: "explain how the rules decide a request, without serving anything",
		Long: `simulate decides a request exactly as the daemon would (the same decision function) and
explains it like a packet tracer: the decision, the deciding line, for every line tried before it
the first condition that failed, the identd step, the shell command that would run (expanded),
and the reply code.

-c takes a text sockd.conf or a frozen sockd.fc (recognised by its content); without it, the
daemon's lookup applies (/etc/sockd.fc, /etc/sockd.conf, then the embedded default).
No DNS and no identd are asked: what they would answer is given by flags (--to-ip, --from-name,
--to-name, --ident). When a rule needs identd and --ident is not given, the simulator assumes
identd agrees with --user and says so.

--batch FILE (or - for stdin) reads one request per line in the same flag syntax, quoted as a
shell quotes ('a b', "a b", a\ b: diff's and replay's examples paste in as printed); blank lines
and # comments are skipped. Exit status: 0 permitted (all permitted for --batch), 1 refused (any
refused), 2 usage or config error.`,
		Example: `  sockd simulate -c /etc/sockd.conf --from 10.1.2.3 --to 192.0.2.7 --port telnet --user alice
  sockd simulate -c sockd.fc --from 10.1.2.3 --to www.example.org --to-ip 192.0.2.80 --port 80 --json
  sockd simulate -c sockd.conf -I --from 10.1.2.3 --to 192.0.2.7 --port 23 --user bob --ident unreachable
  printf -- '--from 10.0.0.1 --to 192.0.2.1 --port 80\n' | sockd simulate -c sockd.conf --batch - --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			mode, err := identMode(lenient, strict)
			if err != nil {
				return err
			}
			pol, conf, err := loadPolicy(cmd, confPath, mode)
			if err != nil {
				return err
			}
			sim := simulate.Simulator{Policy: pol, File: conf.Source, JSON: asJSON, Trace: !noTrace, Full: fullTrace, Out: cmd.OutOrStdout()}
			if clientPath != "" && srelayPath != "" {
				return usagef("--client-config and --srelay-conf exclude each other")
			}
			if clientPath != "" || srelayPath != "" {
				if sim.Routes, err = loadClientForTool(cmd, clientPath+srelayPath, srelayPath != "", defaultServers); err != nil {
					return err
				}
			}
			if batch != "" {
				if cmd.Flags().Changed("from") || cmd.Flags().Changed("to") || cmd.Flags().Changed("port") {
					return usagef("--batch takes the requests from the file, not from --from/--to/--port")
				}
				return runBatch(cmd, &sim, batch)
			}
			res, err := sim.Run(&req)
			if err != nil {
				return usageError{err}
			}
			if !res.Permitted() {
				return exitError(ExitInvalid)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	req.Flags(fs)
	fs.StringVarP(&confPath, "config", "c", "", "sockd.conf or sockd.fc to use")
	fs.BoolVarP(&lenient, "lenient-ident", "i", false, "as sockd -i: ask identd for permit lines without ?=, refuse only a different user")
	fs.BoolVarP(&strict, "strict-ident", "I", false, "as sockd -I: also refuse when identd cannot be reached")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per request")
	fs.StringVar(&batch, "batch", "", "read requests from FILE (- for stdin), one per line in flag syntax")
	fs.BoolVar(&noTrace, "no-trace", false, "decide through the index without the per-line trace (fast replays)")
	fs.BoolVar(&fullTrace, "full-trace", false, fmt.Sprintf("list every line tried; without it, when more than %d were tried, only the lines that failed only on their last condition are listed and the rest counted", simulate.SummaryAfter))
	fs.StringVar(&clientPath, "client-config", "", "socks.conf or socks.fc of rsockd mode: also show the route a permitted request takes")
	fs.StringArrayVar(&defaultServers, "default-server", nil, "with --client-config: the server of sockd lines without @=, as the daemon's flag (default: SOCKS_SERVER)")
	fs.StringVar(&srelayPath, "srelay-conf", "", "srelay.conf: also show the route srelay would take for a permitted request")
	return cmd
}

// identMode is the identd mode 4.3's -i (lenient) and -I (strict) ask for.
func identMode(lenient, strict bool) (policy.IdentMode, error) {
	switch {
	case lenient && strict:
		return policy.IdentModeOff, usagef("-i and -I exclude each other")
	case lenient:
		return policy.IdentModeLenient, nil
	case strict:
		return policy.IdentModeStrict, nil
	}
	return policy.IdentModeOff, nil
}

// loadPolicy loads a sockd.conf or sockd.fc as loadSockdForTool does and
// compiles it to decide requests with the identd mode of -i/-I.
func loadPolicy(cmd *cobra.Command, path string, mode policy.IdentMode) (*policy.Policy, *config.SockdConf, error) {
	conf, origin, err := loadSockdForTool(cmd, path)
	if err != nil {
		return nil, nil, err
	}
	pol, err := policy.New(conf, policy.Options{IdentMode: mode, Pid: os.Getpid()})
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "sockd %s: %s: %v\n", cmd.Name(), origin.Path, err)
		return nil, nil, exitError(ExitUsage)
	}
	return pol, conf, nil
}

// loadSockdForTool loads -c FILE, or follows the daemon's default lookup,
// printing the stale-file warning and any compile warnings to stderr.
// A configuration that cannot be loaded is exit status 2 for the tools
// that only read it.
func loadSockdForTool(cmd *cobra.Command, path string) (*config.SockdConf, load.Origin, error) {
	var (
		conf   *config.SockdConf
		origin load.Origin
		err    error
	)
	if path == "" {
		conf, origin, err = load.DefaultSockd(load.Options{})
	} else {
		conf, origin, err = load.Sockd(path, load.Options{})
	}
	stderr := cmd.ErrOrStderr()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
		return nil, origin, exitError(ExitUsage)
	}
	if origin.Embedded {
		fmt.Fprintf(stderr, "%s: no /etc/sockd.fc or /etc/sockd.conf: using the embedded default (loopback clients only)\n", cmd.CommandPath())
	}
	if w := origin.StaleWarning(); w != "" {
		fmt.Fprintf(stderr, "%s: %s\n", cmd.CommandPath(), w)
	}
	origin.Warnings.WriteText(stderr)
	return conf, origin, nil
}

// runBatch runs simulate --batch on path (- for standard input).
func runBatch(cmd *cobra.Command, sim *simulate.Simulator, path string) error {
	r, name := cmd.InOrStdin(), "<stdin>"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r, name = f, path
	}
	t, err := sim.Batch(r, name, cmd.ErrOrStderr())
	switch {
	case err != nil:
		return err
	case t.Malformed:
		return exitError(ExitUsage)
	case t.Refused:
		return exitError(ExitInvalid)
	}
	return nil
}
