package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/boundedfile"
)

// ClientPolicy decides how a destination is reached according to a
// socks.conf (spec §2): directly, refused, or through a list of SOCKS
// servers. It serves the client library, the client command and the
// daemon in rsockd mode. It is immutable and safe for concurrent use.
//
// Semantics, as 4.3's client library:
//   - 127.0.0.1 and 0.0.0.0 (and, as their IPv6 twins, ::1 and ::) are
//     always reached directly, whatever the lines say;
//   - otherwise the first line whose destination, user list and port
//     match decides;
//   - no matching line: refused.
//
// The user list is compared with the local user (the client library) or
// with the user the SOCKS client claimed (the daemon in rsockd mode).
type ClientPolicy struct {
	conf  *config.SocksConf
	rules []clientRule
	opts  Options
}

type clientRule struct {
	dst    addrMatcher
	users  userMatcher
	portOp config.PortOp
	port   uint16
	max    uint16 // srelay.conf's N-M: the upper end, 0 for none
}

// ClientRequest is one destination to route.
type ClientRequest struct {
	Command Command
	// DstIP is the destination address; invalid when only a name is known
	// (a name that the route may hand, unresolved, to an upstream).
	DstIP   netip.Addr
	DstName string
	DstPort uint16
	// User is compared with *=userlist.
	User string
	// DstNames returns DstIP's confirmed reverse names; nil means none.
	DstNames func() []string
}

// Route indexes of a ClientDecision that are not lines.
const (
	RouteDefault  = -1 // no line matched: refused
	RouteLoopback = -2 // 127.0.0.1, 0.0.0.0, ::1, ::: always direct
)

// ClientDecision is how to reach a destination, and why.
type ClientDecision struct {
	Action config.ClientAction
	// Index is the deciding line's index in SocksConf.Rules, or
	// RouteDefault / RouteLoopback; Rule is that line (nil otherwise).
	Index int
	Rule  *config.ClientRule
	// Servers are the deciding line's @=serverlist; nil means the default
	// server (SOCKS_SERVER) for a sockd line.
	Servers []config.Server
	// Command is the line's expanded shell command, "" for none;
	// CommandErr says why it was refused.
	Command    string
	CommandErr error
	// Reason explains the decision in one sentence.
	Reason string
}

// NewClient compiles a socks.conf. User files named in *=userlist are
// read once, as New does for sockd.conf.
func NewClient(conf *config.SocksConf, opts Options) (*ClientPolicy, error) {
	if conf == nil {
		return nil, errors.New("policy: nil client configuration")
	}
	if opts.ReadFile == nil {
		opts.ReadFile = boundedfile.ReadList
	}
	files := newUserFiles(opts.ReadFile)
	rules := make([]clientRule, len(conf.Rules))
	for i := range conf.Rules {
		cr := &conf.Rules[i]
		if cr.Action > config.ClientSockd {
			return nil, fmt.Errorf("%s:%d: unknown action %d", conf.Source, cr.Pos.Line, cr.Action)
		}
		var r clientRule
		var err error
		if r.dst, err = compileAddr(cr.Dst); err != nil {
			return nil, fmt.Errorf("%s:%d: destination: %w", conf.Source, cr.Pos.Line, err)
		}
		if cr.Port.Op > config.OpGE {
			return nil, fmt.Errorf("%s:%d: unknown port operator %d", conf.Source, cr.Pos.Line, cr.Port.Op)
		}
		r.portOp, r.port, r.max = cr.Port.Op, cr.Port.Port, cr.PortMax
		if cr.Users == nil {
			r.users = userMatcher{any: true}
		} else {
			var ids []string
			for _, u := range cr.Users {
				if strings.HasPrefix(u, "/") {
					fileIDs, err := files.load(u)
					if err != nil {
						return nil, fmt.Errorf("%s:%d: %w", conf.Source, cr.Pos.Line, err)
					}
					ids = append(ids, fileIDs...)
				} else if u != "" {
					ids = append(ids, u)
				}
			}
			r.users = newUserMatcher(ids)
		}
		rules[i] = r
	}
	return &ClientPolicy{conf: conf, rules: rules, opts: opts}, nil
}

// Conf returns the configuration the policy was built from.
func (p *ClientPolicy) Conf() *config.SocksConf { return p.conf }

// AlwaysDirect reports whether 4.3's client library reaches ip without a
// proxy whatever socks.conf says: 127.0.0.1 and 0.0.0.0 (and ::1, ::).
func AlwaysDirect(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || ip == netip.IPv4Unspecified() ||
		ip == netip.IPv6Loopback() || ip == netip.IPv6Unspecified()
}

// Decide routes req. t may be nil; with a tracer every line tried is
// reported as a Step whose Index is the socks.conf line's index and whose
// Rule is nil (ClientStepRule gives the line).
func (p *ClientPolicy) Decide(req *ClientRequest, t Tracer) ClientDecision {
	if req.DstIP.IsValid() && !p.conf.Srelay && AlwaysDirect(req.DstIP) {
		d := ClientDecision{Action: config.ClientDirect, Index: RouteLoopback,
			Reason: req.DstIP.String() + " is always reached directly (4.3's client library)"}
		if t != nil {
			t.Step(Step{Index: RouteLoopback, Matched: true, Field: "default", Note: d.Reason})
		}
		return d
	}
	st := newEvalState(&Request{Command: req.Command, DstIP: req.DstIP, DstName: req.DstName,
		DstPort: req.DstPort, User: req.User, DstNames: req.DstNames})
	for i := range p.rules {
		r := &p.rules[i]
		cr := &p.conf.Rules[i]
		f := fieldNone
		switch {
		case !st.matchDestination(&r.dst):
			f = fieldDestination
		case !r.users.match(req.User):
			f = fieldUser
		case !r.portOp.Match(req.DstPort, r.port), r.max != 0 && req.DstPort > r.max:
			f = fieldPort
		}
		if f != fieldNone {
			if t != nil {
				want, got, note := describeFailure(&st, &config.Rule{Dst: cr.Dst, Users: cr.Users, Port: cr.Port}, f)
				if f == fieldPort && r.max != 0 {
					want = fmt.Sprintf("%d-%d", r.port, r.max)
				}
				t.Step(Step{Index: i, Field: f.String(), Want: want, Got: got, Note: note})
			}
			continue
		}
		d := ClientDecision{Action: cr.Action, Index: i, Rule: cr, Servers: cr.Servers,
			Reason: fmt.Sprintf("%s:%d: first matching line decides: %s", p.conf.Source, cr.Pos.Line, cr.Action)}
		if t != nil {
			t.Step(Step{Index: i, Matched: true, Field: "rule", Want: cr.Action.String(), Note: d.Reason})
		}
		if cr.Command != "" {
			dst := ""
			if req.DstIP.IsValid() {
				dst = req.DstIP.String()
			}
			d.Command, d.CommandErr = Expand(cr.Command, Vars{Command: req.Command.String(), Pid: p.opts.Pid,
				Port: req.DstPort, User: req.User, IdentUser: req.User, DstName: req.DstName, DstIP: dst})
			if t != nil {
				s := Step{Index: i, Matched: d.CommandErr == nil, Field: "command", Want: cr.Command, Got: d.Command, Note: "from rule"}
				if d.CommandErr != nil {
					s.Note += ": refused: " + d.CommandErr.Error()
				}
				t.Step(s)
			}
		}
		return d
	}
	d := ClientDecision{Action: config.ClientDeny, Index: RouteDefault, Reason: "no line of " + p.conf.Source + " matched: refused"}
	if p.conf.Srelay {
		d = ClientDecision{Action: config.ClientDirect, Index: RouteDefault, Reason: "no line of " + p.conf.Source + " matched: connected directly (srelay)"}
	}
	if t != nil {
		t.Step(Step{Index: RouteDefault, Matched: true, Field: "default", Note: d.Reason})
	}
	return d
}

// ClientStepRule returns the socks.conf line a Step of Decide refers to,
// nil for the default and loopback steps.
func (p *ClientPolicy) ClientStepRule(s Step) *config.ClientRule {
	if s.Index < 0 || s.Index >= len(p.conf.Rules) {
		return nil
	}
	return &p.conf.Rules[s.Index]
}
