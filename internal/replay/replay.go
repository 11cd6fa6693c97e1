// Package replay rebuilds the requests a sockd log records and decides them
// again under other rules, to show what a rule change would have done to
// real traffic.
//
// It reads sockd's own lines (text, JSON, syslog and journal forms, plain
// or gzip) and SOCKS 4.3's syslog lines. One request is counted per
// session, however many lines the session logged: a session is its client
// address and port (the client= field sockd writes) or, for 4.3, whose
// child process logged it the syslog pid, together with the request text;
// "connected" opens it and "terminated" (or "failed", "timed-out") closes
// it, so the closing line of a logged session is not a second request.
//
// What the log cannot say is assumed and documented: a destination logged
// by name has no address (address/mask lines do not match it), identd's
// answer is the logged one, or when "unknown" agreement with the claimed
// user, and a service name is looked up as a TCP service.
package replay

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sockd/sockd/policy"
)

// Outcome is how a request was or would be decided.
type Outcome struct {
	Known  bool // false: the log does not say (never for a Decide outcome)
	Permit bool
	Line   int // the deciding line, 0 for the implicit default, -1 not logged
}

func (o Outcome) String() string {
	verdict := "deny"
	if o.Permit {
		verdict = "permit"
	}
	switch {
	case !o.Known:
		return "unknown"
	case o.Line > 0:
		return fmt.Sprintf("%s line %d", verdict, o.Line)
	case o.Line == 0:
		return verdict + " by default"
	}
	return verdict
}

// Request is one rebuilt request.
type Request struct {
	Command string // Connect, Bind or UDP
	User    string
	Ident   string // "" when the log says unknown
	Src     string // the client as logged: an address or a host name
	SrcIP   netip.Addr
	Dst     string
	Port    uint16
	Logged  Outcome
	Where   string // file:line of its first line
}

// Args returns the request in sockd simulate's flag syntax.
func (r *Request) Args() []string {
	from := r.Src
	var a []string
	if r.SrcIP.IsValid() {
		from = r.SrcIP.String()
	}
	a = append(a, "--from", from)
	if r.SrcIP.IsValid() && r.Src != from && net.ParseIP(r.Src) == nil {
		a = append(a, "--from-name", r.Src)
	}
	a = append(a, "--to", r.Dst, "--port", strconv.Itoa(int(r.Port)))
	if r.User != "" {
		a = append(a, "--user", r.User)
	}
	if r.Ident != "" && r.Ident != r.User {
		a = append(a, "--ident", r.Ident)
	}
	switch r.Command {
	case "Bind":
		a = append(a, "--command", "bind")
	case "UDP":
		a = append(a, "--command", "udp")
	}
	return a
}

// PolicyRequest is what Decide is asked.
func (r *Request) PolicyRequest() *policy.Request {
	req := &policy.Request{Command: policy.CmdConnect, SrcIP: r.SrcIP, DstPort: r.Port, User: r.User}
	switch r.Command {
	case "Bind":
		req.Command = policy.CmdBind
	case "UDP":
		req.Command = policy.CmdUDP
	}
	if !r.SrcIP.IsValid() || r.Src != r.SrcIP.String() {
		if net.ParseIP(r.Src) == nil {
			names := []string{r.Src}
			req.SrcNames = func() []string { return names }
		}
	}
	if ip, err := netip.ParseAddr(r.Dst); err == nil {
		req.DstIP = ip.Unmap()
	} else if r.Dst != "Unspecified.Host" {
		req.DstName = r.Dst
	} else {
		req.DstIP = netip.IPv4Unspecified()
	}
	ident, user := r.Ident, r.User
	req.Ident = func() (string, error) {
		if ident != "" {
			return ident, nil
		}
		return user, nil
	}
	return req
}

// Summary counts requests.
type Summary struct {
	Total          int `json:"total"`
	Unchanged      int `json:"unchanged"`
	NewlyRefused   int `json:"newly_refused"`
	NewlyPermitted int `json:"newly_permitted"`
	Unparsable     int `json:"unparsable"`
	// Lines is every line read; Other the lines that record no request
	// (start-up, handshake and identd notes).
	Lines int `json:"lines"`
	Other int `json:"other"`
}

// Group is the changed requests with one (old, new) pair of outcomes.
type Group struct {
	Old, New Outcome
	Count    int
	Example  Request
}

// Bad is an unparsable line.
type Bad struct {
	Where string
	Text  string
	Why   string
}

// Report is what Replay found.
type Report struct {
	Summary Summary
	Groups  []Group // in order of first appearance
	Bad     []Bad   // the first MaxBad unparsable lines
}

// MaxBad is how many unparsable lines a report keeps to show.
const MaxBad = 20

// Replayer decides logged requests under New, and under Old when set
// (otherwise the logged outcome is the old one).
type Replayer struct {
	New, Old *policy.Policy
	report   Report
	groups   map[[2]Outcome]int
	open     map[string]int // sessions opened and not yet closed, by key
	ports    map[string]int // service name → port, -1 unknown
}

// Report returns the result so far.
func (r *Replayer) Report() *Report { return &r.report }

// Read replays one log; name labels its lines. gzip is recognised by its
// magic number.
func (r *Replayer) Read(name string, in io.Reader) error {
	br := bufio.NewReaderSize(in, 256<<10)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 256<<10)
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		r.line(name, n, sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %v", name, n+1, err)
	}
	return nil
}

var events = []string{"connected -- ", "refused -- ", "terminated -- ", "failed -- ", "timed-out -- "}

// line handles one log line.
func (r *Replayer) line(file string, n int, b []byte) {
	r.report.Summary.Lines++
	if len(bytes.TrimSpace(b)) == 0 {
		r.report.Summary.Other++
		return
	}
	var msg, client, pid string
	var line int
	if t := bytes.TrimSpace(b); t[0] == '{' {
		var j struct {
			Msg    string          `json:"msg"`
			Client string          `json:"client"`
			Line   json.RawMessage `json:"line"`
		}
		if err := json.Unmarshal(t, &j); err != nil {
			r.bad(file, n, b, "not a JSON object: "+err.Error())
			return
		}
		msg, client, line = j.Msg, j.Client, -1
		if l, err := strconv.Atoi(string(j.Line)); err == nil {
			line = l
		}
	} else {
		s := string(b)
		at := -1
		for _, e := range events {
			if k := strings.Index(s, e); k >= 0 && (at < 0 || k < at) {
				at = k
			}
		}
		if at < 0 {
			r.report.Summary.Other++
			return
		}
		msg, pid = s[at:], syslogPID(s[:at])
		msg, client, line = splitAttrs(msg)
	}
	ev := ""
	for _, e := range events {
		if strings.HasPrefix(msg, e) {
			ev = e
			break
		}
	}
	if ev == "" {
		r.report.Summary.Other++
		return
	}
	req, err := r.parseMsg(msg[len(ev):], ev)
	if err != nil {
		r.bad(file, n, b, err.Error())
		return
	}
	req.Where = fmt.Sprintf("%s:%d", file, n)
	if client != "" {
		if ap, err := netip.ParseAddrPort(client); err == nil {
			req.SrcIP = ap.Addr().Unmap()
		}
	}
	if !req.SrcIP.IsValid() {
		if ip, err := netip.ParseAddr(req.Src); err == nil {
			req.SrcIP = ip.Unmap()
		}
	}
	key := client + "|" + pid + "|" + req.Command + req.User + "@" + req.Src + ">" + req.Dst
	if r.open == nil {
		r.open = map[string]int{}
	}
	// Sessions are counted, not flagged: lines without a client field
	// (4.3's syslog form) can have several sessions of the same text open
	// at once, and each closing line closes one of them.
	switch ev {
	case "connected -- ":
		if client == "" && pid == "" {
			break // nothing ties the closing line to this one
		}
		r.open[key]++
	case "terminated -- ", "failed -- ", "timed-out -- ":
		if n := r.open[key]; n > 0 {
			if n == 1 {
				delete(r.open, key)
			} else {
				r.open[key] = n - 1
			}
			return // the rest of a session already counted
		}
	}
	req.Logged = Outcome{Known: true, Permit: ev != "refused -- ", Line: line}
	r.decide(&req)
}

func (r *Replayer) bad(file string, n int, b []byte, why string) {
	r.report.Summary.Unparsable++
	if len(r.report.Bad) < MaxBad {
		r.report.Bad = append(r.report.Bad, Bad{Where: fmt.Sprintf("%s:%d", file, n), Text: string(b), Why: why})
	}
}

// syslogPID finds "sockd[PID]:" in a syslog prefix.
func syslogPID(prefix string) string {
	k := strings.LastIndex(prefix, "]: ")
	if k < 0 {
		return ""
	}
	open := strings.LastIndexByte(prefix[:k], '[')
	if open < 0 {
		return ""
	}
	return prefix[open+1 : k]
}

// splitAttrs cuts sockd's key=value fields off a text line's message.
func splitAttrs(s string) (msg, client string, line int) {
	msg, line = s, -1
	if k := strings.Index(s, " client="); k >= 0 {
		msg = s[:k]
		for _, f := range strings.Fields(s[k:]) {
			key, val, _ := strings.Cut(f, "=")
			switch key {
			case "client":
				client = val
			case "line":
				line, _ = strconv.Atoi(val)
			}
		}
	}
	return msg, client, line
}

// parseMsg parses "Connect from U(R)@SRC to DST (SERV)", "Bind from
// U(R)@SRC for DST" or "UDP associate from U(R)@SRC for DST", with what
// the event appends after it.
func (r *Replayer) parseMsg(s, ev string) (Request, error) {
	var req Request
	switch {
	case strings.HasPrefix(s, "Connect from "):
		req.Command, s = "Connect", s[len("Connect from "):]
	case strings.HasPrefix(s, "Bind from "):
		req.Command, s = "Bind", s[len("Bind from "):]
	case strings.HasPrefix(s, "UDP associate from "):
		req.Command, s = "UDP", s[len("UDP associate from "):]
	default:
		return req, fmt.Errorf("no request after %q", strings.TrimSpace(ev))
	}
	at := strings.Index(s, ")@")
	if at < 0 {
		return req, fmt.Errorf("no USER(IDENT)@CLIENT")
	}
	open := strings.LastIndexByte(s[:at], '(')
	if open < 0 {
		return req, fmt.Errorf("no USER(IDENT)@CLIENT")
	}
	req.User, req.Ident = s[:open], s[open+1:at]
	if req.Ident == "unknown" {
		req.Ident = ""
	}
	s = s[at+2:]
	sp := strings.IndexByte(s, ' ')
	if sp < 0 {
		return req, fmt.Errorf("no destination")
	}
	req.Src, s = s[:sp], s[sp+1:]
	if req.Command == "Connect" {
		rest, ok := strings.CutPrefix(s, "to ")
		if !ok {
			return req, fmt.Errorf("no \"to DESTINATION\"")
		}
		sp = strings.IndexByte(rest, ' ')
		if sp < 0 || !strings.HasPrefix(rest[sp:], " (") {
			return req, fmt.Errorf("no \"(SERVICE)\"")
		}
		req.Dst = rest[:sp]
		end := strings.IndexByte(rest[sp+2:], ')')
		if end < 0 {
			return req, fmt.Errorf("no \"(SERVICE)\"")
		}
		port, err := r.port(rest[sp+2 : sp+2+end])
		if err != nil {
			return req, err
		}
		req.Port = port
		return req, nil
	}
	rest, ok := strings.CutPrefix(s, "for ")
	if !ok {
		return req, fmt.Errorf("no \"for DESTINATION\"")
	}
	if sp = strings.IndexByte(rest, ' '); sp >= 0 {
		rest = rest[:sp]
	}
	req.Dst = strings.TrimSuffix(rest, ".") // terminated lines end the request with "."
	if req.Dst == "" {
		return req, fmt.Errorf("no destination")
	}
	return req, nil
}

// port reads a logged service: a number or a TCP service name.
func (r *Replayer) port(s string) (uint16, error) {
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		return uint16(n), nil
	}
	if r.ports == nil {
		r.ports = map[string]int{}
	}
	p, ok := r.ports[s]
	if !ok {
		p = -1
		if n, err := net.LookupPort("tcp", s); err == nil {
			p = n
		}
		r.ports[s] = p
	}
	if p < 0 {
		return 0, fmt.Errorf("unknown service %q", s)
	}
	return uint16(p), nil
}

func outcomeOf(d policy.Decision) Outcome {
	o := Outcome{Known: true, Permit: d.Permit}
	if d.Rule != nil {
		o.Line = d.Rule.Pos.Line
	}
	return o
}

func (r *Replayer) decide(req *Request) {
	s := &r.report.Summary
	s.Total++
	old := req.Logged
	if r.Old != nil {
		old = outcomeOf(r.Old.Decide(req.PolicyRequest(), nil))
	}
	nw := outcomeOf(r.New.Decide(req.PolicyRequest(), nil))
	switch {
	case old.Permit == nw.Permit:
		s.Unchanged++
		return
	case nw.Permit:
		s.NewlyPermitted++
	default:
		s.NewlyRefused++
	}
	key := [2]Outcome{old, nw}
	if r.groups == nil {
		r.groups = map[[2]Outcome]int{}
	}
	g, ok := r.groups[key]
	if !ok {
		g = len(r.report.Groups)
		r.groups[key] = g
		r.report.Groups = append(r.report.Groups, Group{Old: old, New: nw, Example: *req})
	}
	r.report.Groups[g].Count++
}
