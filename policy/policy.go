package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/ident"
	"github.com/sockd/sockd/internal/boundedfile"
	"github.com/sockd/sockd/internal/gcpause"
	"github.com/sockd/sockd/internal/hugepage"
)

// IdentMode is the daemon-wide identd setting (sockd -i / -I), used by
// permit lines without a ?= field.
type IdentMode uint8

const (
	IdentModeOff     IdentMode = iota // no -i/-I: identd is not asked
	IdentModeLenient                  // -i: refuse only when identd names another user
	IdentModeStrict                   // -I: also refuse when identd cannot be reached
)

func (m IdentMode) String() string {
	switch m {
	case IdentModeLenient:
		return "lenient"
	case IdentModeStrict:
		return "strict"
	}
	return "off"
}

// Options configures New. The zero value reads files from the real file
// system, never asks identd unless a line says so, and expands %p to 0.
type Options struct {
	// ReadFile reads user files (and /etc/services for %S); nil means
	// boundedfile.ReadList (regular files of a bounded size only).
	ReadFile func(name string) ([]byte, error)
	// IdentMode applies to permit lines without a ?= field.
	IdentMode IdentMode
	// Pid is what %p expands to: the daemon's process id.
	Pid int
	// ServiceName returns the TCP service name of a port for %S; nil means
	// the tcp entries of ServicesFile.
	ServiceName func(port uint16) (string, bool)
	// ServicesFile is read through ReadFile, once and only if a command
	// uses %S, when ServiceName is nil. Empty means /etc/services.
	ServicesFile string
}

// Command is the SOCKS request type being decided.
type Command uint8

const (
	CmdConnect Command = 1 // SOCKS4/5 CONNECT
	CmdBind    Command = 2 // SOCKS4/5 BIND
	// CmdUDP is a SOCKS5 UDP ASSOCIATE datagram check: the daemon decides
	// each datagram's destination as if it were a connect to it.
	CmdUDP Command = 3
)

// String is what %c expands to.
func (c Command) String() string {
	switch c {
	case CmdConnect:
		return "connect"
	case CmdBind:
		return "bind"
	case CmdUDP:
		return "udp"
	}
	return "unknown"
}

// Request is what Decide needs to know about one SOCKS request. The hooks
// are called lazily (at most once per decision, and only when a line needs
// their answer), so that the daemon does DNS and identd work only when the
// rules require it.
type Request struct {
	Command Command
	SrcIP   netip.Addr
	SrcPort uint16
	// DstIP is the destination address; invalid when the request carried
	// only a name that could not be resolved.
	DstIP netip.Addr
	// DstName is the destination host name as carried by the request
	// (SOCKS4a, SOCKS5 domain name), "" for an address request.
	DstName string
	DstPort uint16
	// User is the claimed user id: SOCKS4 USERID or the SOCKS5 user name.
	User string
	// SrcNames returns the client's forward-confirmed reverse names; nil
	// means it has none.
	SrcNames func() []string
	// DstNames returns DstIP's forward-confirmed reverse names; nil means
	// none.
	DstNames func() []string
	// Ident asks the client's identd for the owner of the connection. An
	// error means identd could not be reached or gave no user. nil means
	// identd is unreachable.
	Ident func() (user string, err error)
}

// GivenNames makes SrcNames and DstNames answer with names known in
// advance, as a simulated request states them instead of looking them up;
// an empty list leaves that side without names.
func (r *Request) GivenNames(src, dst []string) {
	if len(src) > 0 {
		r.SrcNames = func() []string { return src }
	}
	if len(dst) > 0 {
		r.DstNames = func() []string { return dst }
	}
}

// CommandSource says which line a Decision's shell command comes from.
type CommandSource uint8

const (
	CommandNone     CommandSource = iota // no command runs
	CommandRule                          // the deciding line's own command
	CommandNoIdentd                      // the #NO_IDENTD: line
	CommandBadID                         // the #BAD_ID: line
)

func (s CommandSource) String() string {
	switch s {
	case CommandRule:
		return "rule"
	case CommandNoIdentd:
		return "#NO_IDENTD:"
	case CommandBadID:
		return "#BAD_ID:"
	}
	return "none"
}

// SOCKS4 reply codes (the CD byte of the reply).
const (
	Reply4Granted    byte = 90
	Reply4Rejected   byte = 91
	Reply4NoIdentd   byte = 92
	Reply4IdentDiffs byte = 93
)

// SOCKS5 reply codes used by the policy (RFC 1928 REP field).
const (
	Reply5Succeeded  byte = 0x00
	Reply5NotAllowed byte = 0x02
)

// ErrIdentNoUser is the IdentErr when identd answered without a user.
var ErrIdentNoUser = errors.New("identd gave no user")

// ErrNoIdentHook is the IdentErr when the request has no Ident hook.
var ErrNoIdentHook = errors.New("identd cannot be asked for this request")

// IdentOutcome is what asking identd came to. Log lines (logline.IdentNote)
// and the identd metrics are worded from it; the decision itself follows
// from it as the package doc says.
type IdentOutcome uint8

const (
	IdentNotAsked    IdentOutcome = iota // no permit line asked identd
	IdentConfirmed                       // identd named the claimed user
	IdentMismatch                        // identd named another user (reply 93)
	IdentUnreachable                     // no answer (ident.ErrUnreachable)
	IdentMalformed                       // an answer that is not an RFC 1413 reply (ident.ErrMalformed)
	IdentFailed                          // no user for another reason: an ERROR reply, an empty user, no Ident hook
)

// identOutcome classifies why identd gave no user.
func identOutcome(err error) IdentOutcome {
	switch {
	case errors.Is(err, ident.ErrUnreachable):
		return IdentUnreachable
	case errors.Is(err, ident.ErrMalformed):
		return IdentMalformed
	}
	return IdentFailed
}

// Decision is the outcome of Decide, with everything a log line or an
// explanation needs.
type Decision struct {
	Permit bool
	Reply4 byte // 90 granted, 91 refused, 92 identd unreachable (strict), 93 identd disagrees
	Reply5 byte // 0x00 succeeded, 0x02 not allowed by ruleset
	// Index is the deciding line's index in SockdConf.Rules, -1 for the
	// implicit final deny. Rule is that line, nil for the default.
	Index int
	Rule  *config.Rule
	// IdentMode is the identd mode that applied to the deciding permit line
	// (IdentModeOff when identd was not asked).
	IdentMode IdentMode
	Ident     IdentOutcome // IdentNotAsked when identd was not asked
	IdentUser string       // the user identd reported, when it answered
	IdentErr  error        // why identd gave no user
	// Command is the expanded shell command to run, "" for none, and
	// CommandFrom the line it comes from. CommandErr says why a command
	// was refused (no alphanumeric character, too long); Command is then "".
	Command     string
	CommandFrom CommandSource
	CommandErr  error
	// PreCommand is the expanded #NO_IDENTD: command when identd was
	// unreachable on a lenient line: it runs first, then Command (the
	// line's own command) runs too, as in 4.3.
	PreCommand    string
	PreCommandErr error
}

// IdentAsked reports whether the deciding permit line asked identd.
func (d *Decision) IdentAsked() bool { return d.Ident != IdentNotAsked }

// ShellCommands returns the commands to run, in order.
func (d *Decision) ShellCommands() []string {
	var out []string
	if d.PreCommand != "" {
		out = append(out, d.PreCommand)
	}
	if d.Command != "" {
		out = append(out, d.Command)
	}
	return out
}

// Policy is a compiled sockd.conf ready to decide requests. It is
// immutable and safe for concurrent use.
type Policy struct {
	conf  *config.SockdConf
	rules []rule
	idx   index
	opts  Options

	servicesOnce sync.Once
	services     map[uint16]string
}

// New compiles conf. It reads every user file named in a *=userlist; an
// unreadable or malformed user file is an error, so that a reload keeps the
// rules already in force. conf must not be modified afterwards.
func New(conf *config.SockdConf, opts Options) (*Policy, error) {
	if conf == nil {
		return nil, errors.New("policy: nil configuration")
	}
	if opts.ReadFile == nil {
		opts.ReadFile = boundedfile.ReadList
	}
	if opts.ServicesFile == "" {
		opts.ServicesFile = "/etc/services"
	}
	if len(conf.Rules) >= parallelCompileMin {
		defer gcpause.Start()() // see package gcpause for why
	}
	files := newUserFiles(opts.ReadFile)
	rules := make([]rule, len(conf.Rules))
	hugepage.Advise(rules) // fewer page faults for a large file
	// A large file compiles in two halves side by side: the work is
	// mostly the first writes to a fresh rule array, which two cores do
	// in half the time. The first failing line in file order is reported,
	// whichever half finds it first.
	codes := make([]int32, len(rules))
	compile := func(from, to int) (int, error) {
		var users userArena
		for i := from; i < to; i++ {
			r, err := compileRule(&conf.Rules[i], files.load, &users)
			if err != nil {
				return i, err
			}
			rules[i] = r
		}
		lineShapes(rules[from:to], codes[from:to])
		return -1, nil
	}
	var at int
	var err error
	if len(rules) < parallelCompileMin {
		at, err = compile(0, len(rules))
	} else {
		type failure struct {
			at  int
			err error
		}
		mid := len(rules) / 2
		second := make(chan failure, 1)
		go func() {
			at, err := compile(mid, len(rules))
			second <- failure{at, err}
		}()
		at, err = compile(0, mid)
		if f := <-second; at < 0 {
			at, err = f.at, f.err
		}
	}
	if at >= 0 {
		return nil, fmt.Errorf("%s:%d: %w", conf.Source, conf.Rules[at].Pos.Line, err)
	}
	p := &Policy{conf: conf, rules: rules, opts: opts}
	p.idx = buildIndex(rules, codes)
	return p, nil
}

// parallelCompileMin is the line count from which New compiles on two
// goroutines: below it a goroutine costs more than it saves.
const parallelCompileMin = 8192

// Conf returns the configuration the policy was built from.
func (p *Policy) Conf() *config.SockdConf { return p.conf }

// userArena hands out userMatchers from shared chunks: a large
// configuration has thousands of user lists, and one allocation per list
// is a measurable part of its start.
type userArena struct{ free []userMatcher }

func (a *userArena) put(u userMatcher) *userMatcher {
	if len(a.free) == 0 {
		a.free = make([]userMatcher, 1024)
	}
	p := &a.free[0]
	*p = u
	a.free = a.free[1:]
	return p
}

func compileRule(cr *config.Rule, loadFile func(string) ([]string, error), users *userArena) (rule, error) {
	var r rule
	var err error
	if cr.Action != config.Permit && cr.Action != config.Deny {
		return r, fmt.Errorf("unknown action %d", cr.Action)
	}
	r.permit = cr.Action == config.Permit
	if cr.Ident > config.IdentStrict {
		return r, fmt.Errorf("unknown ?= setting %d", cr.Ident)
	}
	r.ident = cr.Ident
	if r.src, err = compileAddr(cr.Src); err != nil {
		return r, fmt.Errorf("source: %w", err)
	}
	if r.dst, err = compileAddr(cr.Dst); err != nil {
		return r, fmt.Errorf("destination: %w", err)
	}
	if cr.Port.Op > config.OpGE {
		return r, fmt.Errorf("unknown port operator %d", cr.Port.Op)
	}
	r.portOp, r.port = cr.Port.Op, cr.Port.Port
	if cr.Users == nil {
		return r, nil // every user
	}
	// A list of plain user ids is used as it is (the configuration is
	// immutable); only file names and empty entries call for a new list.
	ids := cr.Users
	if slices.ContainsFunc(cr.Users, func(u string) bool { return u == "" || u[0] == '/' }) {
		ids = nil
		for _, u := range cr.Users {
			if strings.HasPrefix(u, "/") {
				fileIDs, err := loadFile(u)
				if err != nil {
					return r, err
				}
				ids = append(ids, fileIDs...)
			} else if u != "" {
				ids = append(ids, u)
			}
		}
	}
	r.users = users.put(newUserMatcher(ids))
	return r, nil
}

// effectiveIdent is the identd mode for a permit line.
func (p *Policy) effectiveIdent(r *rule) IdentMode {
	switch r.ident {
	case config.IdentOff:
		return IdentModeOff
	case config.IdentLenient:
		return IdentModeLenient
	case config.IdentStrict:
		return IdentModeStrict
	}
	return p.opts.IdentMode
}

// Decide decides req. t may be nil (the daemon): the decision then uses
// the index and does not allocate unless a command must be expanded or
// identd is involved. With a tracer, every line up to the deciding one is
// walked in order and reported, then the identd and command steps.
func (p *Policy) Decide(req *Request, t Tracer) Decision {
	st := newEvalState(req)
	var idx int
	if t == nil {
		idx = p.idx.first(p.rules, &st)
	} else {
		idx = p.traceMatch(&st, t)
	}
	return p.conclude(&st, idx, t)
}

// DecideBeforeResolve decides a request for a host name whose address is
// not known yet (DstName set, DstIP invalid) when the deciding line does
// not depend on the address: every line before it fails on the source,
// the user or the port, and it matches whatever the address is (its
// destination is any, or a name pattern the name itself matches). decided
// is false as soon as a line's match depends on the address (an address
// and mask, or a name pattern that only the address's reverse names could
// match): the caller then resolves the name and asks Decide. A decided
// request gets the decision Decide gives it with any address, so the
// daemon need not resolve a name the rules refuse by name, and does not
// leak it to DNS. A request with an address is simply decided.
func (p *Policy) DecideBeforeResolve(req *Request) (d Decision, decided bool) {
	if req.DstName == "" || req.DstIP.IsValid() {
		return p.Decide(req, nil), true
	}
	st := newEvalState(req)
	for i := range p.rules {
		r := &p.rules[i]
		if !st.matchSource(&r.src) || !r.users.match(req.User) || !r.portOp.Match(req.DstPort, r.port) {
			continue // fails whatever the address
		}
		switch r.dst.kind {
		case kindAny:
		case kindPattern:
			if !r.dst.pat.matches(req.DstName) {
				return Decision{}, false // the address's reverse names might match
			}
		default:
			return Decision{}, false
		}
		return p.conclude(&st, i, nil), true
	}
	return p.conclude(&st, -1, nil), true
}

// decideNaive is the reference: a plain first-match loop over every line,
// which the index must agree with.
func (p *Policy) decideNaive(req *Request) Decision {
	st := newEvalState(req)
	idx := -1
	for i := range p.rules {
		if st.match(&p.rules[i]) == fieldNone {
			idx = i
			break
		}
	}
	return p.conclude(&st, idx, nil)
}

// conclude turns the deciding line (or -1) into a Decision: identd, reply
// codes, and the shell commands.
func (p *Policy) conclude(st *evalState, idx int, t Tracer) Decision {
	if idx < 0 {
		if t != nil {
			t.Step(Step{Index: -1, Matched: true, Field: "default",
				Note: "no line matched: implicit deny"})
		}
		return Decision{Reply4: Reply4Rejected, Reply5: Reply5NotAllowed, Index: -1}
	}
	r := &p.rules[idx]
	cr := &p.conf.Rules[idx]
	d := Decision{Index: idx, Rule: cr}
	if t != nil {
		t.Step(Step{Index: idx, Rule: cr, Matched: true, Field: "rule", Want: cr.Action.String(),
			Note: "first matching line decides: " + cr.Action.String()})
	}
	if !r.permit {
		d.Reply4, d.Reply5 = Reply4Rejected, Reply5NotAllowed
		p.setCommand(&d, st, CommandRule, cr.Command, t)
		return d
	}
	d.Permit, d.Reply4, d.Reply5 = true, Reply4Granted, Reply5Succeeded
	mode := p.effectiveIdent(r)
	if mode == IdentModeOff {
		p.setCommand(&d, st, CommandRule, cr.Command, t)
		return d
	}
	d.IdentMode = mode
	if st.req.Ident == nil {
		d.IdentErr = ErrNoIdentHook
	} else {
		d.IdentUser, d.IdentErr = st.req.Ident()
		if d.IdentErr == nil && d.IdentUser == "" {
			d.IdentErr = ErrIdentNoUser
		}
		if d.IdentErr != nil {
			d.IdentUser = ""
		}
	}
	switch {
	case d.IdentErr != nil:
		d.Ident = identOutcome(d.IdentErr)
		noIdentd := p.special(p.conf.NoIdentd)
		if mode == IdentModeStrict {
			d.Permit, d.Reply4, d.Reply5 = false, Reply4NoIdentd, Reply5NotAllowed
			p.traceIdent(t, &d, st.req.User, "cannot be reached: refused (reply 92)")
			p.setCommand(&d, st, CommandNoIdentd, noIdentd, t)
			return d
		}
		p.traceIdent(t, &d, st.req.User, "cannot be reached: permitted anyway")
		if noIdentd != "" {
			d.PreCommand, d.PreCommandErr = p.expandFor(st, &d, noIdentd)
			if t != nil {
				t.Step(commandStep(&d, CommandNoIdentd, noIdentd, d.PreCommand, d.PreCommandErr))
			}
		}
		p.setCommand(&d, st, CommandRule, cr.Command, t)
	case d.IdentUser != st.req.User:
		d.Permit, d.Reply4, d.Reply5 = false, Reply4IdentDiffs, Reply5NotAllowed
		d.Ident = IdentMismatch
		p.traceIdent(t, &d, st.req.User, "identd names another user: refused (reply 93)")
		p.setCommand(&d, st, CommandBadID, p.special(p.conf.BadID), t)
	default:
		d.Ident = IdentConfirmed
		p.traceIdent(t, &d, st.req.User, "identd confirms the user")
		p.setCommand(&d, st, CommandRule, cr.Command, t)
	}
	return d
}

func (p *Policy) special(s *config.Special) string {
	if s == nil {
		return ""
	}
	return s.Command
}

func (p *Policy) traceIdent(t Tracer, d *Decision, claimed, note string) {
	if t == nil {
		return
	}
	got := d.IdentUser
	if d.IdentErr != nil {
		got = "error: " + d.IdentErr.Error()
	}
	t.Step(Step{Index: d.Index, Rule: d.Rule, Matched: d.Permit, Field: "identd",
		Want: claimed, Got: got, Note: d.IdentMode.String() + " identd: " + note})
}

func (p *Policy) setCommand(d *Decision, st *evalState, from CommandSource, template string, t Tracer) {
	if template == "" {
		return
	}
	d.CommandFrom = from
	d.Command, d.CommandErr = p.expandFor(st, d, template)
	if t != nil {
		t.Step(commandStep(d, from, template, d.Command, d.CommandErr))
	}
}

func commandStep(d *Decision, from CommandSource, template, expanded string, err error) Step {
	s := Step{Index: d.Index, Rule: d.Rule, Matched: err == nil, Field: "command",
		Want: template, Got: expanded, Note: "from " + from.String()}
	if err != nil {
		s.Note += ": refused: " + err.Error()
	}
	return s
}
