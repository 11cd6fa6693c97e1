package grammar

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/diag"
)

// srelay.conf (srelay(8), readconf.c) is compiled into the same routing
// model as socks.conf, so rsockd's dialer, `sockd simulate` and `socks
// route` follow and explain it unchanged:
//
//	dest[/len|/dotted.mask]  port-range  [next-hop [port[/H|/S|/4|/5]]] ...
//
// Fields are separated by blanks, tabs or commas; a line whose first field
// starts with '#' or ';' is a comment, and a later field starting with
// either ends the line. Several next hops are a chain listed farthest
// first; no next hop connects directly, and so does a destination that no
// line matches (srelay's lookup_tbl). How srelay matched, and how each
// form maps onto a config.ClientRule:
//
//   - `*` matches every destination: the pattern ALL;
//   - an address alone is that one address, except 0.0.0.0 and ::, which
//     match every address of their family (two rules for the two halves
//     of the family, since an all-zero mask would match both families);
//   - a name matches destination names that end with it: the zone
//     `.name` (srelay also matched "xname", a byte-suffix; we keep label
//     boundaries);
//   - ports: any, -, N, N-, -M, N-M;
//   - a next hop's port defaults to 1080; /H is HTTP CONNECT, /S (the
//     default) SOCKS 5 with names passed on, /4 SOCKS 4a, /5 SOCKS 5.
//
// Where srelay logged a warning and dropped the line (an unparsable
// address or port, a reversed range) or silently ignored the rest of a
// line (a next hop without a port followed by more fields), this compiler
// stops with an error at the field.

const srelayLineLimit = 1023 // MAXLINE-1 in srelay

// srelay tokens: a field that looks like a next hop's port, and the rest.
const tokSrelayPort lexer.TokenType = -(iota + 20)

var srelayTokenNames = map[string]lexer.TokenType{"EOF": lexer.EOF, "Word": tokWord, "HopPort": tokSrelayPort}

// SrelayLine is one srelay.conf line: dest [ports [hop [port]]...].
type SrelayLine struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Dest   lexer.Token  `parser:"@(Word | HopPort)"`
	Ports  *lexer.Token `parser:"@(Word | HopPort)?"`
	Hops   []*SrelayHop `parser:"@@*"`
}

// SrelayHop is a next hop and its optional port[/proto].
type SrelayHop struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Host   lexer.Token  `parser:"@(Word | HopPort)"`
	Port   *lexer.Token `parser:"@HopPort?"`
}

var srelayParser = participle.MustBuild[SrelayLine](participle.Lexer(fieldLexer{srelayTokenNames}))

// isHopPort: digits, then maybe /letter(s).
func isHopPort(f string) bool {
	i := 0
	for i < len(f) && '0' <= f[i] && f[i] <= '9' {
		i++
	}
	return i > 0 && (i == len(f) || f[i] == '/')
}

// srelayTokens cuts a line into fields at blanks, tabs and commas; a field
// that starts with '#' or ';' ends the line.
func srelayTokens(name string, l sourceLine) ([]lexer.Token, lexer.Position) {
	text := l.text
	var toks []lexer.Token
	sep := func(b byte) bool { return b == ' ' || b == '\t' || b == ',' }
	end := len(text)
	for i := 0; i < len(text); {
		if sep(text[i]) {
			i++
			continue
		}
		if text[i] == '#' || text[i] == ';' {
			end = i
			break
		}
		start := i
		for i < len(text) && !sep(text[i]) {
			i++
		}
		f := text[start:i]
		typ := tokWord
		if isHopPort(f) {
			typ = tokSrelayPort
		}
		toks = append(toks, lexer.Token{Type: typ, Value: f,
			Pos: lexer.Position{Filename: name, Offset: l.offset + start, Line: l.num, Column: start + 1}})
	}
	return toks, lexer.Position{Line: l.num, Column: end + 1, Offset: l.offset + end}
}

// ParseSrelay compiles a srelay.conf into the client routing model. Every
// rule keeps its line's text and position; a line may yield two rules (the
// halves of a family, see above).
func ParseSrelay(name string, src []byte, opts Options) (*config.SocksConf, diag.List) {
	c := newChecker(name, opts)
	conf := &config.SocksConf{Source: name, Srelay: true}
	c.eachLine(src, srelayLineLimit, func(l sourceLine) {
		toks, eof := srelayTokens(name, l)
		if len(toks) == 0 {
			return
		}
		ast := parseLine(c, srelayParser, toks, eof)
		if ast == nil {
			return
		}
		rules, ok := c.srelayRules(ast)
		if !ok {
			return
		}
		for i := range rules {
			rules[i].Text = l.text
		}
		conf.Rules = append(conf.Rules, rules...)
	})
	return compiled(c, conf)
}

func (c *checker) srelayRules(ast *SrelayLine) ([]config.ClientRule, bool) {
	r := config.ClientRule{Pos: config.Pos{Line: c.line.num, Col: ast.Dest.Pos.Column}, Action: config.ClientDirect}
	dsts, ok := c.srelayDest(ast.Dest)
	if !ok {
		return nil, false
	}
	if ast.Ports == nil {
		return nil, c.failAfter(ast.Dest, "srelay skipped such a line; add `any` to route every port",
			"a port range must follow the destination")
	}
	if r.Port, r.PortMax, ok = c.srelayPorts(*ast.Ports); !ok {
		return nil, false
	}
	// srelay lists the chain farthest first: the first hop named is the
	// server that reaches the destination, each later one reaches the one
	// before it, and the last is connected to directly.
	var hops []config.Server
	for i, h := range ast.Hops {
		if h.Port == nil && i+1 < len(ast.Hops) {
			next := ast.Hops[i+1].Host
			return nil, c.failTok(next, "srelay ignored everything after a next hop without a port; write its port (1080) before the next hop",
				"a next hop (%s) follows one without a port", quote(next.Value))
		}
		s, ok := c.srelayHop(h)
		if !ok {
			return nil, false
		}
		hops = append(hops, s)
	}
	if len(hops) > 0 {
		r.Action = config.ClientSockd
		first := hops[0]
		first.Via = hops[1:]
		for i := range first.Via {
			first.Via[i].Pinned = true
		}
		if len(first.Via) == 0 {
			first.Via = nil
		}
		r.Servers = []config.Server{first}
	}
	out := make([]config.ClientRule, len(dsts))
	for i, d := range dsts {
		out[i] = r
		out[i].Dst = d
	}
	return out, true
}

// srelayDest reads a destination; the family wildcards become two rules.
func (c *checker) srelayDest(t lexer.Token) ([]config.Addr, bool) {
	s := t.Value
	col := t.Pos.Column
	if s == "*" {
		return []config.Addr{{Kind: config.AddrPattern, Pattern: "ALL"}}, true
	}
	host, mask, hasMask := s, "", false
	if i := strings.IndexByte(s, '/'); i >= 0 {
		host, mask, hasMask = s[:i], s[i+1:], true
	}
	maskCol := col + len(host) + 1
	bracket := strings.HasPrefix(host, "[")
	if bracket {
		host = strings.TrimPrefix(host, "[")
		if strings.HasSuffix(mask, "]") && hasMask { // [v6/len]
			mask = strings.TrimSuffix(mask, "]")
		} else if strings.HasSuffix(host, "]") {
			host = strings.TrimSuffix(host, "]")
		} else {
			return nil, c.failTok(t, "write an IPv6 destination as `[2001:db8::]/32` or `[2001:db8::/32]`", "missing `]` in %s", quote(s))
		}
	}
	if !bracket && !isAddressLike(host) {
		if hasMask {
			return nil, c.failAt(maskCol-1, tokEnd(t), "a name matches every destination name ending with it; it takes no mask",
				"a mask cannot follow the name %s", quote(host))
		}
		if !c.checkPattern(lexer.Token{Value: host, Pos: t.Pos}) {
			return nil, false
		}
		return []config.Addr{{Kind: config.AddrPattern, Pattern: "." + strings.TrimPrefix(host, ".")}}, true
	}
	hostCol := col
	if bracket {
		hostCol++
	}
	ip, ok := c.ipAt(host, hostCol, "address")
	if !ok {
		return nil, false
	}
	bits := ip.BitLen()
	if !hasMask {
		if ip.IsUnspecified() {
			// srelay: the all-zero address is the wildcard of its family.
			half := prefixMask(bits, 1)
			hi := make([]byte, bits/8)
			hi[0] = 0x80
			top, _ := netip.AddrFromSlice(hi)
			return []config.Addr{{Kind: config.AddrMask, IP: ip, Mask: half, CIDR: true},
				{Kind: config.AddrMask, IP: top, Mask: half, CIDR: true}}, true
		}
		return []config.Addr{{Kind: config.AddrMask, IP: ip, Mask: prefixMask(bits, bits), CIDR: true}}, true
	}
	n := 0
	if strings.ContainsRune(mask, '.') {
		m, err := netip.ParseAddr(mask)
		if err != nil || !m.Is4() || !ip.Is4() {
			return nil, c.failAt(maskCol, maskCol+len(mask), "a dotted mask is an IPv4 mask like 255.255.255.0",
				"%s is not a valid IPv4 mask", quote(mask))
		}
		l, contiguous := maskLen(m)
		if !contiguous {
			return nil, c.failAt(maskCol, maskCol+len(mask), "srelay counted only the trailing zero bits; write the prefix length instead",
				"mask %s is not contiguous", quote(mask))
		}
		n = l
	} else {
		v, err := strconv.Atoi(mask)
		if err != nil || strings.ContainsAny(mask, "+-") || v > bits || v < 0 {
			return nil, c.failAt(maskCol, maskCol+max(len(mask), 1), "", "%s is not a prefix length for %s (1..%d)", quote(mask), family(ip), bits)
		}
		n = v
	}
	if n == 0 {
		return nil, c.failAt(maskCol, maskCol+max(len(mask), 1),
			"srelay read a zero mask as no mask at all (this one address); write the address alone, or 0.0.0.0 (::) for every address of the family",
			"a zero-length mask")
	}
	return []config.Addr{{Kind: config.AddrMask, IP: ip, Mask: prefixMask(bits, n), CIDR: true}}, true
}

// maskLen is the prefix length of a contiguous IPv4 mask.
func maskLen(m netip.Addr) (int, bool) {
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for n < 32 && v&(1<<(31-n)) != 0 {
		n++
	}
	return n, v<<n == 0
}

// srelayPorts reads any, -, N, N-, -M or N-M.
func (c *checker) srelayPorts(t lexer.Token) (config.PortTest, uint16, bool) {
	s := t.Value
	const hint = "a port range is any, -, N, N-, -M or N-M"
	if strings.EqualFold(s, "any") || s == "-" {
		return config.PortTest{}, 0, true
	}
	if strings.ContainsRune(s, '/') {
		i := strings.IndexByte(s, '/')
		return config.PortTest{}, 0, c.failAt(t.Pos.Column+i, tokEnd(t), "srelay's /T and /U suffixes are not supported; remove it",
			"a protocol suffix %s on the port range", quote(s[i:]))
	}
	num := func(p string, col int) (uint16, bool) {
		v, err := strconv.ParseUint(p, 10, 16)
		if err != nil || v == 0 {
			return 0, c.failAt(col, col+max(len(p), 1), hint, "%s is not a port (1..65535)", quote(p))
		}
		return uint16(v), true
	}
	dash := strings.IndexByte(s, '-')
	if dash < 0 {
		p, ok := num(s, t.Pos.Column)
		return config.PortTest{Op: config.OpEQ, Port: p}, 0, ok
	}
	lo, hi := s[:dash], s[dash+1:]
	switch {
	case lo == "":
		p, ok := num(hi, t.Pos.Column+1)
		return config.PortTest{Op: config.OpLE, Port: p}, 0, ok
	case hi == "":
		p, ok := num(lo, t.Pos.Column)
		return config.PortTest{Op: config.OpGE, Port: p}, 0, ok
	}
	l, ok := num(lo, t.Pos.Column)
	if !ok {
		return config.PortTest{}, 0, false
	}
	h, ok := num(hi, t.Pos.Column+dash+1)
	if !ok {
		return config.PortTest{}, 0, false
	}
	if l > h {
		return config.PortTest{}, 0, c.failTok(t, "write the lower port first", "port range %s is reversed", quote(s))
	}
	if l == h {
		return config.PortTest{Op: config.OpEQ, Port: l}, 0, true
	}
	return config.PortTest{Op: config.OpGE, Port: l}, h, true
}

// srelayHop reads a next hop: host or [v6], then port[/H|/S|/4|/5].
func (c *checker) srelayHop(h *SrelayHop) (config.Server, bool) {
	t := h.Host
	host := t.Value
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return config.Server{}, c.failTok(t, "write an IPv6 next hop as `[2001:db8::1]`", "missing `]` in %s", quote(host))
		}
		host = host[1 : len(host)-1]
		if _, ok := c.ipAt(host, t.Pos.Column+1, "address"); !ok {
			return config.Server{}, false
		}
	} else if isAddressLike(host) {
		if strings.ContainsRune(host, ':') {
			return config.Server{}, c.failTok(t, "srelay needs brackets around an IPv6 next hop: `[2001:db8::1]`", "an IPv6 next hop without brackets")
		}
		if _, ok := c.ipAt(host, t.Pos.Column, "address"); !ok {
			return config.Server{}, false
		}
	} else {
		for i := 0; i < len(host); i++ {
			b := host[i]
			ok := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_' ||
				b == '.' && i > 0 && host[i-1] != '.'
			if !ok {
				return config.Server{}, c.failAt(t.Pos.Column+i, t.Pos.Column+i+1,
					"a next hop is a host name, an IPv4 address or a bracketed IPv6 address",
					"%s is not a valid next hop", quote(host))
			}
		}
	}
	s := config.Server{Scheme: "socks5h", Host: host, Port: 1080, Pinned: true}
	if h.Port == nil {
		return s, true
	}
	p := h.Port.Value
	proto := ""
	if i := strings.IndexByte(p, '/'); i >= 0 {
		p, proto = p[:i], p[i+1:]
	}
	v, err := strconv.ParseUint(p, 10, 16)
	if err != nil || v == 0 {
		return s, c.failAt(h.Port.Pos.Column, h.Port.Pos.Column+len(p), "a next hop's port is 1..65535", "%s is not a port", quote(p))
	}
	s.Port = uint16(v)
	switch strings.ToUpper(proto) {
	case "", "S", "5":
		s.Scheme = "socks5h"
	case "H":
		s.Scheme = "http"
	case "4":
		s.Scheme = "socks4a"
	default:
		col := h.Port.Pos.Column + len(p) + 1
		return s, c.failAt(col, col+len(proto), "/H is HTTP CONNECT, /S (the default) SOCKS",
			"unknown next-hop protocol %s", quote("/"+proto))
	}
	return s, true
}
