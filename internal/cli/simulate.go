package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/policy"
)

func init() { registerSockd(newSimulateCmd) }

// simRequest is one simulated request, as given by flags (or by one line of
// a --batch file, in the same syntax).
type simRequest struct {
	from, to, port, user, ident, command string
	fromNames, toNames                   []string
	toIP                                 string
}

func (r *simRequest) flags(fs *pflag.FlagSet) {
	fs.StringVar(&r.from, "from", "", "client address (required)")
	fs.StringVar(&r.to, "to", "", "destination host name or address (required)")
	fs.StringVar(&r.port, "port", "", "destination port number or TCP service name (required)")
	fs.StringVar(&r.user, "user", "", "user id the client claims (SOCKS4 USERID, SOCKS5 user name)")
	fs.StringVar(&r.ident, "ident", "", `what identd answers: a user name, or "unreachable" (default: agrees with --user)`)
	fs.StringVar(&r.command, "command", "connect", "connect, bind or udp")
	fs.StringSliceVar(&r.fromNames, "from-name", nil, "a forward-confirmed name of the client (repeatable)")
	fs.StringSliceVar(&r.toNames, "to-name", nil, "a forward-confirmed reverse name of the destination address (repeatable)")
	fs.StringVar(&r.toIP, "to-ip", "", "the address a --to host name resolves to (the daemon resolves names before deciding)")
}

// simResult is the JSON form of one decision.
type simResult struct {
	Decision string    `json:"decision"` // permit or deny
	Line     int       `json:"line"`     // 0 for the implicit default
	Reply    int       `json:"reply"`    // SOCKS4 code, 90-93
	Reply5   int       `json:"reply5"`   // SOCKS5 REP
	File     string    `json:"file"`
	Text     string    `json:"text"`
	Trace    []simStep `json:"trace"`
	// TraceOmitted counts the lines tried that the summary leaves out
	// (more than summaryAfter lines tried, without --full-trace).
	TraceOmitted int        `json:"trace_omitted,omitempty"`
	Assumed      []string   `json:"assumed"`
	Command      []string   `json:"command"` // shell commands that would run, expanded, in order
	Identd       *simIdentd `json:"identd,omitempty"`
	Notes        []string   `json:"notes,omitempty"`
	// Route is how the request would reach its destination (with
	// --client-config, for permitted requests).
	Route *client.RouteJSON `json:"route,omitempty"`
	route *client.Route
}

type simStep struct {
	Line    int    `json:"line"` // 0 for the implicit default
	Field   string `json:"field"`
	Matched bool   `json:"matched"`
	// NearMiss: the line failed only on its last condition.
	NearMiss bool   `json:"near_miss,omitempty"`
	Want     string `json:"want,omitempty"`
	Got      string `json:"got,omitempty"`
	Note     string `json:"note,omitempty"`
}

type simIdentd struct {
	Mode  string `json:"mode"`
	Asked bool   `json:"asked"`
	User  string `json:"user,omitempty"`
	Error string `json:"error,omitempty"`
}

func newSimulateCmd() *cobra.Command {
	var (
		req            simRequest
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

--batch FILE (or - for stdin) reads one request per line in the same flag syntax; blank lines and
# comments are skipped. Exit status: 0 permitted (all permitted for --batch), 1 refused (any
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
			conf, origin, err := loadSockdForTool(cmd, confPath)
			if err != nil {
				return err
			}
			pol, err := policy.New(conf, policy.Options{IdentMode: mode, Pid: os.Getpid()})
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "sockd simulate: %s: %v\n", origin.Path, err)
				return exitError(ExitUsage)
			}
			sim := simulator{pol: pol, file: conf.Source, json: asJSON, trace: !noTrace, full: fullTrace, out: cmd.OutOrStdout()}
			if clientPath != "" && srelayPath != "" {
				return usagef("--client-config and --srelay-conf exclude each other")
			}
			if clientPath != "" || srelayPath != "" {
				if sim.routes, err = loadClientForTool(cmd, clientPath+srelayPath, srelayPath != "", defaultServers); err != nil {
					return err
				}
			}
			if batch != "" {
				if cmd.Flags().Changed("from") || cmd.Flags().Changed("to") || cmd.Flags().Changed("port") {
					return usagef("--batch takes the requests from the file, not from --from/--to/--port")
				}
				return sim.batch(cmd, batch)
			}
			res, err := sim.run(&req)
			if err != nil {
				return usageError{err}
			}
			if res.Decision != "permit" {
				return exitError(ExitInvalid)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	req.flags(fs)
	fs.StringVarP(&confPath, "config", "c", "", "sockd.conf or sockd.fc to use")
	fs.BoolVarP(&lenient, "lenient-ident", "i", false, "as sockd -i: ask identd for permit lines without ?=, refuse only a different user")
	fs.BoolVarP(&strict, "strict-ident", "I", false, "as sockd -I: also refuse when identd cannot be reached")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per request")
	fs.StringVar(&batch, "batch", "", "read requests from FILE (- for stdin), one per line in flag syntax")
	fs.BoolVar(&noTrace, "no-trace", false, "decide through the index without the per-line trace (fast replays)")
	fs.BoolVar(&fullTrace, "full-trace", false, fmt.Sprintf("list every line tried; without it, when more than %d were tried, only the lines that failed only on their last condition are listed and the rest counted", summaryAfter))
	fs.StringVar(&clientPath, "client-config", "", "socks.conf or socks.fc of rsockd mode: also show the route a permitted request takes")
	fs.StringArrayVar(&defaultServers, "default-server", nil, "with --client-config: the server of sockd lines without @=, as the daemon's flag (default: SOCKS_SERVER)")
	fs.StringVar(&srelayPath, "srelay-conf", "", "srelay.conf: also show the route srelay would take for a permitted request")
	return cmd
}

// loadSockdForTool loads -c FILE, or follows the daemon's default lookup,
// printing the stale-file warning and any compile warnings to stderr.
// A configuration that cannot be loaded is exit status 2 for the tools
// that only read it.
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

type simulator struct {
	pol    *policy.Policy
	file   string
	json   bool
	trace  bool
	full   bool // --full-trace
	out    io.Writer
	routes *client.Dialer // --client-config, nil without
}

// toRequest turns flags into a policy request; assumed collects the inputs
// the simulator had to make up.
func (r *simRequest) toRequest() (*policy.Request, *[]string, error) {
	assumed := &[]string{}
	if r.from == "" || r.to == "" || r.port == "" {
		return nil, nil, fmt.Errorf("--from, --to and --port are required")
	}
	src, err := netip.ParseAddr(r.from)
	if err != nil {
		return nil, nil, fmt.Errorf("--from %q is not an IP address", r.from)
	}
	port, err := parsePort(r.port)
	if err != nil {
		return nil, nil, err
	}
	req := &policy.Request{SrcIP: src.Unmap(), DstPort: port, User: r.user}
	switch r.command {
	case "connect":
		req.Command = policy.CmdConnect
	case "bind":
		req.Command = policy.CmdBind
	case "udp":
		req.Command = policy.CmdUDP
	default:
		return nil, nil, fmt.Errorf("--command %q: want connect, bind or udp", r.command)
	}
	if ip, err := netip.ParseAddr(r.to); err == nil {
		req.DstIP = ip.Unmap()
		if r.toIP != "" {
			return nil, nil, fmt.Errorf("--to-ip goes with a host name in --to, not an address")
		}
	} else {
		req.DstName = r.to
		if r.toIP != "" {
			ip, err := netip.ParseAddr(r.toIP)
			if err != nil {
				return nil, nil, fmt.Errorf("--to-ip %q is not an IP address", r.toIP)
			}
			req.DstIP = ip.Unmap()
		}
	}
	if len(r.fromNames) > 0 {
		names := r.fromNames
		req.SrcNames = func() []string { return names }
	}
	if len(r.toNames) > 0 {
		names := r.toNames
		req.DstNames = func() []string { return names }
	}
	switch r.ident {
	case "":
		user := r.user
		req.Ident = func() (string, error) {
			*assumed = append(*assumed, fmt.Sprintf("identd agrees with the claimed user %q (no --ident given)", user))
			return user, nil
		}
	case "unreachable":
		req.Ident = func() (string, error) { return "", fmt.Errorf("identd unreachable (--ident unreachable)") }
	default:
		ident := r.ident
		req.Ident = func() (string, error) { return ident, nil }
	}
	return req, assumed, nil
}

func parsePort(s string) (uint16, error) {
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		return uint16(n), nil
	}
	if p, err := net.LookupPort("tcp", s); err == nil {
		return uint16(p), nil
	}
	return 0, fmt.Errorf("--port %q is neither a port number (0-65535) nor a known TCP service", s)
}

var reply4Text = map[byte]string{
	90: "request granted",
	91: "request rejected",
	92: "rejected: identd on the client cannot be reached",
	93: "rejected: identd reports a different user",
}

func (s *simulator) run(r *simRequest) (simResult, error) {
	req, assumed, err := r.toRequest()
	if err != nil {
		return simResult{}, err
	}
	var rec policy.Recorder
	var d policy.Decision
	if s.trace {
		d = s.pol.Decide(req, &rec)
	} else {
		d = s.pol.Decide(req, nil)
	}
	res := simResult{Decision: "deny", Reply: int(d.Reply4), Reply5: int(d.Reply5), File: s.file,
		Text: "implicit default: no line matched", Assumed: *assumed, Command: d.ShellCommands(), Trace: []simStep{}}
	if d.Permit {
		res.Decision = "permit"
	}
	if d.Rule != nil {
		res.Line, res.Text = d.Rule.Pos.Line, d.Rule.Text
	}
	if res.Command == nil {
		res.Command = []string{}
	}
	if d.IdentAsked || d.IdentMode != policy.IdentModeOff {
		id := &simIdentd{Mode: d.IdentMode.String(), Asked: d.IdentAsked, User: d.IdentUser}
		if d.IdentErr != nil {
			id.Error = d.IdentErr.Error()
		}
		res.Identd = id
	}
	for _, e := range []error{d.CommandErr, d.PreCommandErr} {
		if e != nil {
			res.Notes = append(res.Notes, "shell command refused: "+e.Error())
		}
	}
	if note := logline.IdentNote(&d, req); note != "" {
		res.Notes = append(res.Notes, note)
	}
	if n := s.resolveNote(req); n != "" {
		res.Notes = append(res.Notes, n)
	}
	steps := rec.Steps
	if !s.full {
		steps, res.TraceOmitted = summarizeTrace(steps)
	}
	for _, st := range steps {
		line := 0
		if st.Rule != nil {
			line = st.Rule.Pos.Line
		}
		res.Trace = append(res.Trace, simStep{Line: line, Field: st.Field, Matched: st.Matched, NearMiss: st.NearMiss,
			Want: st.Want, Got: st.Got, Note: st.Note})
	}
	s.addRoute(&res, req)
	if s.json {
		// One compact object per line (JSON Lines), for --batch replays.
		return res, json.NewEncoder(s.out).Encode(res)
	}
	s.writeHuman(res, steps)
	return res, nil
}

// resolveNote says, for a request naming a host without --to-ip, whether
// the daemon resolves the name before deciding: it does not when the
// deciding line does not depend on the address (policy's
// DecideBeforeResolve, which the daemon asks first), so a name refused by
// name never reaches DNS.
func (s *simulator) resolveNote(req *policy.Request) string {
	if req.DstName == "" || req.DstIP.IsValid() {
		return ""
	}
	probe := *req
	probe.Ident = func() (string, error) { return "", nil } // no assumption recorded twice
	if _, decided := s.pol.DecideBeforeResolve(&probe); decided {
		return "decided by name: the daemon does not resolve " + req.DstName + " for this decision"
	}
	return "the daemon resolves " + req.DstName + " and decides by its address: give --to-ip for that decision"
}
