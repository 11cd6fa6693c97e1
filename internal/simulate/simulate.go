package simulate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/policy"
)

// Request is one simulated request, as given by flags (or by one line of
// a --batch file, in the same syntax).
type Request struct {
	from, to, port, user, ident, command string
	fromNames, toNames                   []string
	toIP                                 string
}

// Flags adds the flags that describe a request to fs: the command's own
// flags and the syntax of one --batch line are the same.
func (r *Request) Flags(fs *pflag.FlagSet) {
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

// Result is the JSON form of one decision.
type Result struct {
	Decision string `json:"decision"` // permit or deny
	Line     int    `json:"line"`     // 0 for the implicit default
	Reply    int    `json:"reply"`    // SOCKS4 code, 90-93
	Reply5   int    `json:"reply5"`   // SOCKS5 REP
	File     string `json:"file"`
	Text     string `json:"text"`
	Trace    []Step `json:"trace"`
	// TraceOmitted counts the lines tried that the summary leaves out
	// (more than SummaryAfter lines tried, without --full-trace).
	TraceOmitted int      `json:"trace_omitted,omitempty"`
	Assumed      []string `json:"assumed"`
	Command      []string `json:"command"` // shell commands that would run, expanded, in order
	Identd       *Identd  `json:"identd,omitempty"`
	Notes        []string `json:"notes,omitempty"`
	// Route is how the request would reach its destination (with
	// --client-config, for permitted requests).
	Route *client.RouteJSON `json:"route,omitempty"`
	route *client.Route
}

// Permitted reports whether the request was permitted.
func (r Result) Permitted() bool { return r.Decision == "permit" }

// Step is one line of the trace of a Result.
type Step struct {
	Line    int    `json:"line"` // 0 for the implicit default
	Field   string `json:"field"`
	Matched bool   `json:"matched"`
	// NearMiss: the line failed only on its last condition.
	NearMiss bool   `json:"near_miss,omitempty"`
	Want     string `json:"want,omitempty"`
	Got      string `json:"got,omitempty"`
	Note     string `json:"note,omitempty"`
}

// Identd is the identd step of a Result.
type Identd struct {
	Mode  string `json:"mode"`
	Asked bool   `json:"asked"`
	User  string `json:"user,omitempty"`
	Error string `json:"error,omitempty"`
}

// Simulator decides requests under one policy and writes each decision to
// Out, as text for a person or as one JSON object a line.
type Simulator struct {
	Policy *policy.Policy
	File   string // the rule file's name, as the text form cites lines
	JSON   bool
	Trace  bool // record why each line tried did not match (--no-trace turns it off)
	Full   bool // --full-trace: list every line tried, never a summary
	Out    io.Writer
	Routes *client.Dialer // --client-config or --srelay-conf, nil without (see Routes)
}

// Routes is the Dialer that plans the routes of permitted requests under
// rules (a socks.conf's or srelay.conf's) without ever asking DNS, with
// the default servers the daemon would use.
func Routes(rules *policy.ClientPolicy, defaults []client.Upstream) *client.Dialer {
	return &client.Dialer{Rules: rules, DefaultServers: defaults, UserID: "sockd",
		Resolve: func(ctx context.Context, name string) (netip.Addr, error) {
			return netip.Addr{}, fmt.Errorf("%s is not resolved by the simulator (give --to-ip, or use addresses)", name)
		}}
}

// toRequest turns flags into a policy request; assumed collects the inputs
// the simulator had to make up.
func (r *Request) toRequest() (*policy.Request, *[]string, error) {
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
	req.GivenNames(r.fromNames, r.toNames)
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

// Run decides one request and writes the decision. An error is a request
// that cannot be decided (a malformed flag value), or a failed write.
func (s *Simulator) Run(r *Request) (Result, error) {
	req, assumed, err := r.toRequest()
	if err != nil {
		return Result{}, err
	}
	var rec policy.Recorder
	var d policy.Decision
	if s.Trace {
		d = s.Policy.Decide(req, &rec)
	} else {
		d = s.Policy.Decide(req, nil)
	}
	res := Result{Decision: "deny", Reply: int(d.Reply4), Reply5: int(d.Reply5), File: s.File,
		Text: "implicit default: no line matched", Assumed: *assumed, Command: d.ShellCommands(), Trace: []Step{}}
	if d.Permit {
		res.Decision = "permit"
	}
	if d.Rule != nil {
		res.Line, res.Text = d.Rule.Pos.Line, d.Rule.Text
	}
	if res.Command == nil {
		res.Command = []string{}
	}
	if d.IdentAsked() || d.IdentMode != policy.IdentModeOff {
		id := &Identd{Mode: d.IdentMode.String(), Asked: d.IdentAsked(), User: d.IdentUser}
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
	if !s.Full {
		steps, res.TraceOmitted = summarizeTrace(steps)
	}
	for _, st := range steps {
		line := 0
		if st.Rule != nil {
			line = st.Rule.Pos.Line
		}
		res.Trace = append(res.Trace, Step{Line: line, Field: st.Field, Matched: st.Matched, NearMiss: st.NearMiss,
			Want: st.Want, Got: st.Got, Note: st.Note})
	}
	s.addRoute(&res, req)
	if s.JSON {
		// One compact object per line (JSON Lines), for --batch replays.
		return res, json.NewEncoder(s.Out).Encode(res)
	}
	s.writeHuman(res, steps)
	return res, nil
}

// resolveNote says, for a request naming a host without --to-ip, whether
// the daemon resolves the name before deciding: it does not when the
// deciding line does not depend on the address (policy's
// DecideBeforeResolve, which the daemon asks first), so a name refused by
// name never reaches DNS.
func (s *Simulator) resolveNote(req *policy.Request) string {
	if req.DstName == "" || req.DstIP.IsValid() {
		return ""
	}
	probe := *req
	probe.Ident = func() (string, error) { return "", nil } // no assumption recorded twice
	if _, decided := s.Policy.DecideBeforeResolve(&probe); decided {
		return "decided by name: the daemon does not resolve " + req.DstName + " for this decision"
	}
	return "the daemon resolves " + req.DstName + " and decides by its address: give --to-ip for that decision"
}

// addRoute plans the route of a permitted request, as rsockd would follow
// it; a route that socks.conf refuses makes the request refused.
func (s *Simulator) addRoute(res *Result, req *policy.Request) {
	if s.Routes == nil || res.Decision != "permit" {
		return
	}
	d := *s.Routes
	d.User = req.User
	r := d.Plan(context.Background(), req.Command, client.Target{IP: req.DstIP, Name: req.DstName, Port: req.DstPort}, s.Trace)
	j := r.JSON()
	res.route, res.Route = r, &j
	if r.Err == nil && r.Decision.Action == config.ClientDeny {
		res.Decision, res.Reply, res.Reply5 = "deny", int(policy.Reply4Rejected), int(policy.Reply5NotAllowed)
		res.Notes = append(res.Notes, "refused by the client configuration: "+r.Decision.Reason)
	}
}
