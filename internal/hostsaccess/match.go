package hostsaccess

// Deciding a connection against the parsed tables: rule order, the
// patterns of hosts_access(5) and the options that decide.

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Request is the connection being decided.
type Request struct {
	Daemon string         // the daemon's name: srelay, sockd, rsockd
	Client netip.AddrPort // the client's address
	Server netip.AddrPort // the address the client connected to
}

// Verdict is a decision and the rule that made it.
type Verdict struct {
	Allow bool
	Rule  *Rule // nil: no rule matched (access granted)
	// Reason says why, in one line.
	Reason string
}

// Access decides req with hosts.allow (allow) and hosts.deny (deny);
// either may be nil (no file).
func Access(allow, deny *Table, req *Request) Verdict {
	if allow != nil {
		if r, v, res := allow.match(req); res == resYes {
			return verdict(r, v, true)
		}
	}
	if deny != nil {
		switch r, v, res := deny.match(req); res {
		case resYes:
			return verdict(r, v, false)
		case resErr:
			return Verdict{Reason: fmt.Sprintf("%s:%d: a last line without newline: libwrap's error denies", deny.Path, deny.brokenLine)}
		}
	}
	return Verdict{Allow: true, Reason: "no rule of hosts.allow or hosts.deny matched: granted"}
}

type result int

const (
	resNo result = iota
	resYes
	resErr
)

func verdict(r *Rule, opt optVerdict, dflt bool) Verdict {
	allow := dflt
	how := "matched"
	switch opt {
	case optAllow:
		allow, how = true, "matched (option allow)"
	case optDeny:
		allow, how = false, "matched (option deny)"
	case optError:
		allow, how = false, "matched, and a bad option denies"
	}
	word := "denied"
	if allow {
		word = "granted"
	}
	return Verdict{Allow: allow, Rule: r, Reason: fmt.Sprintf("%s:%d %s: %s", r.File, r.Line, how, word)}
}

type optVerdict int

const (
	optNone optVerdict = iota
	optAllow
	optDeny
	optError
)

func (t *Table) match(req *Request) (*Rule, optVerdict, result) {
	for i := range t.Rules {
		r := &t.Rules[i]
		if t.listMatch(tokens(r.daemons), req, t.serverMatch) && t.listMatch(tokens(r.clients), req, t.clientMatch) {
			if !r.hasOpts {
				return r, optNone, resYes
			}
			return r, processOptions(r.options), resYes
		}
	}
	if t.brokenEnd {
		return nil, optNone, resErr
	}
	return nil, optNone, resNo
}

// processOptions follows libwrap's process_options in a dry run: allow
// and deny decide (and must come last), a known option with a valid form
// is skipped, anything else is an error, which denies.
func processOptions(s string) optVerdict {
	opts := splitOptions(s)
	for i, o := range opts {
		o = strings.Trim(o, " \t\r\n")
		name, value := o, ""
		if j := strings.IndexAny(o, " \t="); j >= 0 {
			name, value = o[:j], strings.TrimLeft(o[j:], " \t=")
		}
		lname := strings.ToLower(name)
		spec, known := optionSpecs[lname]
		if !known {
			return optError
		}
		if spec.needsValue && value == "" || !spec.needsValue && !spec.optValue && value != "" {
			return optError
		}
		if spec.last && i != len(opts)-1 {
			return optError
		}
		switch lname {
		case "allow":
			return optAllow
		case "deny":
			return optDeny
		}
	}
	return optNone
}

type optionSpec struct{ needsValue, optValue, last bool }

// optionSpecs are hosts_options(5)'s options.
var optionSpecs = map[string]optionSpec{
	"allow": {last: true}, "deny": {last: true},
	"spawn": {needsValue: true}, "twist": {needsValue: true, last: true},
	"umask": {needsValue: true}, "user": {needsValue: true}, "group": {needsValue: true},
	"setenv": {needsValue: true}, "banners": {needsValue: true}, "nice": {optValue: true},
	"keepalive": {}, "linger": {needsValue: true}, "rfc931": {optValue: true},
	"severity": {needsValue: true},
}

// listMatch is libwrap's list_match: the first pattern that matches wins,
// unless an EXCEPT list after it matches too.
func (t *Table) listMatch(toks []string, req *Request, match func(string, *Request) bool) bool {
	for i := 0; i < len(toks); i++ {
		if strings.EqualFold(toks[i], "EXCEPT") {
			return false
		}
		if t.patternMatch(toks[i], req, match) {
			j := i + 1
			for j < len(toks) && !strings.EqualFold(toks[j], "EXCEPT") {
				j++
			}
			return j == len(toks) || !t.listMatch(toks[j+1:], req, match)
		}
	}
	return false
}

// patternMatch handles /file patterns (Debian), then the pattern itself.
func (t *Table) patternMatch(tok string, req *Request, match func(string, *Request) bool) bool {
	if tok[0] != '/' {
		return match(tok, req)
	}
	data, err := t.readFile(tok)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, p := range tokens(line) {
			if match(p, req) {
				return true
			}
		}
	}
	return false
}

func (t *Table) serverMatch(tok string, req *Request) bool {
	if i := strings.IndexByte(tok[1:], '@'); i >= 0 {
		return stringMatch(tok[:i+1], req.Daemon) && hostMatch(tok[i+2:], req.Server.Addr())
	}
	return stringMatch(tok, req.Daemon)
}

func (t *Table) clientMatch(tok string, req *Request) bool {
	if i := strings.IndexByte(tok[1:], '@'); i >= 0 {
		return hostMatch(tok[i+2:], req.Client.Addr()) && stringMatch(tok[:i+1], unknown)
	}
	return hostMatch(tok, req.Client.Addr())
}

// addrString is libwrap's text form of an address: IPv4-mapped IPv6
// addresses as IPv4.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return unknown
	}
	return a.Unmap().String()
}

// hostMatch is libwrap's host_match; the host name is always unknown.
func hostMatch(tok string, a netip.Addr) bool {
	switch {
	case tok == "":
		return false
	case tok[0] == '@': // NIS netgroup: none here
		return false
	case strings.EqualFold(tok, "KNOWN"):
		return false // the name is unknown
	case strings.EqualFold(tok, "LOCAL"):
		return false // a name without a dot: the name is unknown
	}
	if net, mask, ok := splitAt(tok, '/'); ok {
		return maskedMatch(net, mask, a)
	}
	return stringMatch(tok, addrString(a)) || notInaddr(tok) && stringMatch(tok, unknown)
}

// notInaddr: libwrap's NOT_INADDR, a token with a character other than
// digits, dots and slashes.
func notInaddr(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune("0123456789./", r) }) >= 0
}

// stringMatch is libwrap's string_match with Debian's wildcards.
func stringMatch(tok, s string) bool {
	n := len(tok)
	switch {
	case tok[0] == '.':
		k := len(s) - n
		return k > 0 && strings.EqualFold(tok, s[k:])
	case strings.EqualFold(tok, "ALL"):
		return true
	case strings.EqualFold(tok, "KNOWN"):
		return !strings.EqualFold(s, unknown)
	case strings.ContainsAny(tok, "*?"):
		return wildMatch(strings.ToLower(tok), strings.ToLower(s))
	case tok[n-1] == '.':
		return len(s) >= n && strings.EqualFold(tok, s[:n])
	}
	if n >= 2 && tok[0] == '[' && tok[n-1] == ']' {
		tok = tok[1 : n-1]
		if ip, err := netip.ParseAddr(tok); err == nil {
			if sa, err := netip.ParseAddr(s); err == nil {
				return ip == sa
			}
		}
	}
	return strings.EqualFold(tok, s)
}

// wildMatch matches * (any run) and ? (one character).
func wildMatch(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if wildMatch(p, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}

// maskedMatch is libwrap's masked_match: net/mask or net/len for IPv4,
// [net]/len for IPv6. The network is compared as written: host bits set
// in it make the pattern match nothing, as in libwrap.
func maskedMatch(netTok, maskTok string, a netip.Addr) bool {
	a = a.Unmap()
	if strings.HasPrefix(netTok, "[") {
		if !strings.HasSuffix(netTok, "]") || !a.Is6() {
			return false
		}
		net, err := netip.ParseAddr(netTok[1 : len(netTok)-1])
		if err != nil || !net.Is6() || net.Zone() != "" {
			return false
		}
		bits, ok := atoiPrefix(maskTok)
		if !ok || bits > 128 {
			return false
		}
		p, _ := a.WithZone("").Prefix(bits)
		q, _ := net.Prefix(bits)
		return p.Addr() == q.Addr()
	}
	if !a.Is4() {
		return false
	}
	net, ok := dotQuad(netTok)
	if !ok {
		return false
	}
	// inet_addr refuses 255.255.255.255 (it is INADDR_NONE), and libwrap
	// then reads the mask as a prefix length, atoi-style.
	mask, ok := dotQuad(maskTok)
	if !ok || mask == ^uint32(0) {
		n, ok := atoiPrefix(maskTok)
		if !ok || n > 32 {
			return false
		}
		mask = 0
		if n > 0 {
			mask = ^uint32(0) << (32 - n)
		}
	}
	b := a.As4()
	addr := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	return addr&mask == net
}

// atoiPrefix reads leading digits as atoi does ("1x" is 1); false when
// there are none.
func atoiPrefix(s string) (int, bool) {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	switch {
	case i == 0:
		return 0, false
	case i > 4:
		return 9999, true
	}
	n, _ := strconv.Atoi(s[:i])
	return n, true
}

// dotQuad parses a dotted quad the way inet_addr does for plain a.b.c.d.
func dotQuad(s string) (uint32, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is4() {
		return 0, false
	}
	b := ip.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), true
}

// Mentions reports whether a rule of t could apply to daemon: its daemon
// list matches daemon for some server address. It tells whether access
// control is configured for a daemon at all.
func (t *Table) Mentions(daemon string) bool {
	if t == nil {
		return false
	}
	req := &Request{Daemon: daemon}
	for i := range t.Rules {
		if t.listMatch(tokens(stripHosts(t.Rules[i].daemons)), req, t.serverMatch) {
			return true
		}
	}
	return false
}

// stripHosts drops the @host parts of a daemon list, so that daemon@host
// counts as mentioning the daemon.
func stripHosts(list string) string {
	toks := tokens(list)
	for i, tok := range toks {
		if j := strings.IndexByte(tok[1:], '@'); j >= 0 {
			toks[i] = tok[:j+1]
		}
	}
	return strings.Join(toks, " ")
}
