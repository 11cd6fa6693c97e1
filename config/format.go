package config

import (
	"bufio"
	"io"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// Canonical text: single spaces, lowercase keywords, optional fields left
// out when they have their default meaning, a pattern's ignored mask
// printed as 0.0.0.0, a named service printed by its name, and the shell
// command after " : ". The grammar package compiles the canonical text back
// to the same values (except Pos and Text, which come from the new text),
// and formatting that again gives the same text.

// Canonical renders the pair: "10.0.0.0 255.0.0.0", "10.0.0.0/8",
// "ALL 0.0.0.0", ".example 0.0.0.0". AddrAny (an omitted destination)
// renders as "".
func (a Addr) Canonical() string {
	switch a.Kind {
	case AddrAny:
		return ""
	case AddrPattern:
		return a.Pattern + " 0.0.0.0"
	}
	if a.CIDR {
		if n, ok := prefixLen(a.Mask); ok {
			return a.IP.String() + "/" + strconv.Itoa(n)
		}
	}
	return a.IP.String() + " " + a.Mask.String()
}

// prefixLen returns n when mask is n one-bits followed by zero-bits.
func prefixLen(mask netip.Addr) (int, bool) {
	if !mask.IsValid() {
		return 0, false
	}
	b := mask.AsSlice()
	n, seenZero := 0, false
	for _, x := range b {
		ones := bits.LeadingZeros8(^x)
		if seenZero && x != 0 || ones < 8 && x<<ones != 0 {
			return 0, false
		}
		if ones < 8 {
			seenZero = true
		}
		n += ones
	}
	return n, true
}

// requiredAddr renders a pair that the syntax cannot omit (a source, or a
// socks.conf destination): AddrAny has no spelling there, so it becomes the
// pair that matches everything.
func requiredAddr(a Addr) string {
	if a.Kind == AddrAny {
		return "0.0.0.0 0.0.0.0"
	}
	return a.Canonical()
}

func (p PortTest) canonical() string {
	if p.Op == OpNone {
		return ""
	}
	if p.Service != "" {
		return p.Op.String() + " " + p.Service
	}
	return p.Op.String() + " " + strconv.Itoa(int(p.Port))
}

func (i Ident) canonical() string {
	switch i {
	case IdentOff:
		return "?=n"
	case IdentLenient:
		return "?=i"
	case IdentStrict:
		return "?=I"
	}
	return ""
}

// line joins the non-empty fields with single spaces, then the command.
func line(command string, fields ...string) string {
	var b strings.Builder
	for _, f := range fields {
		if f == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f)
	}
	if command != "" {
		b.WriteString(" : ")
		b.WriteString(command)
	}
	return b.String()
}

func userList(users []string) string {
	if users == nil {
		return ""
	}
	return "*=" + strings.Join(users, ",")
}

// Canonical renders the rule as one sockd.conf line, e.g.
// "permit ?=I *=alice,/etc/u 10.0.0.0 255.0.0.0 0.0.0.0 0.0.0.0 eq telnet : echo hi".
func (r Rule) Canonical() string {
	return line(r.Command, r.Action.String(), r.Ident.canonical(), userList(r.Users),
		requiredAddr(r.Src), r.Dst.Canonical(), r.Port.canonical())
}

// Canonical renders the route as one sockd.route line.
func (r Route) Canonical() string {
	return line("", r.If.String(), requiredAddr(r.Dst))
}

// Canonical renders the server list entry: host[:port] for 4.3's form
// (the port only when it is not 1080), scheme://host[:port] for a URL (the
// port only when it is not the scheme's default).
func (s Server) canonical() string {
	host := s.Host
	if strings.ContainsRune(host, ':') {
		host = "[" + host + "]"
	}
	scheme := s.Scheme
	if scheme == "" {
		scheme = "socks4"
	}
	def := uint16(1080)
	if scheme == "http" {
		def = 8080
	}
	if s.Port != def {
		host += ":" + strconv.Itoa(int(s.Port))
	}
	if !s.URL && scheme == "socks4" {
		return host
	}
	return scheme + "://" + host
}

// Canonical renders the rule as one socks.conf line.
func (r ClientRule) Canonical() string {
	var servers string
	if r.Servers != nil {
		list := make([]string, len(r.Servers))
		for i, s := range r.Servers {
			list[i] = s.canonical()
		}
		servers = "@=" + strings.Join(list, ",")
	}
	return line(r.Command, r.Action.String(), servers, userList(r.Users),
		requiredAddr(r.Dst), r.Port.canonical())
}

func special(prefix string, s *Special) string {
	if s.Command == "" {
		return prefix
	}
	return prefix + " " + s.Command
}

// writeCanonical writes each entry's canonical line.
func writeCanonical[T interface{ Canonical() string }](bw *bufio.Writer, entries []T) {
	for _, e := range entries {
		bw.WriteString(e.Canonical())
		bw.WriteByte('\n')
	}
}

// WriteSockd writes the canonical sockd.conf: the special lines first, then
// the rules in order, one per line.
func WriteSockd(w io.Writer, c *SockdConf) error {
	bw := bufio.NewWriter(w)
	if c.NoIdentd != nil {
		bw.WriteString(special("#NO_IDENTD:", c.NoIdentd) + "\n")
	}
	if c.BadID != nil {
		bw.WriteString(special("#BAD_ID:", c.BadID) + "\n")
	}
	writeCanonical(bw, c.Rules)
	return bw.Flush()
}

// WriteRoute writes the canonical sockd.route, one route per line.
func WriteRoute(w io.Writer, c *RouteConf) error {
	bw := bufio.NewWriter(w)
	writeCanonical(bw, c.Routes)
	return bw.Flush()
}

// WriteSocks writes the canonical socks.conf, one rule per line.
func WriteSocks(w io.Writer, c *SocksConf) error {
	bw := bufio.NewWriter(w)
	writeCanonical(bw, c.Rules)
	return bw.Flush()
}
