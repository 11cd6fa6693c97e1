package grammar

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/diag"
)

// checker validates the parsed lines of one file and collects diagnostics.
// It keeps at most one error per line: the first fault found, left to
// right, is the one the user must fix first, and later faults on the same
// line are often its echoes.
type checker struct {
	file  string
	opts  Options
	diags diag.List

	services  map[string]serviceAnswer // LookupService answers, per name
	userFiles map[string]error         // CheckUserFile answers, per path

	line   sourceLine
	failed bool // the current line already has its error
	// glued is the column of a command ':' written inside a field (as in
	// "80:echo"), 0 if none: an error just before it gets a hint that the
	// colon was read as the start of the shell command.
	glued int
}

type serviceAnswer struct {
	port int
	err  error
}

func newChecker(file string, opts Options) *checker {
	return &checker{
		file:      file,
		opts:      opts.withDefaults(),
		services:  map[string]serviceAnswer{},
		userFiles: map[string]error{},
	}
}

func (c *checker) startLine(l sourceLine) {
	c.line = l
	c.failed = false
	c.glued = 0
}

// noteCommandColon remembers a ':' that cut a field in two.
func (c *checker) noteCommandColon(cut cutLine) {
	if cut.hasCommand && cut.colon > 0 && !isBlank(c.line.text[cut.colon-1]) {
		c.glued = cut.colon + 1
	}
}

// finish sorts the diagnostics; a file with an error yields no model.
func (c *checker) finish() diag.List {
	c.diags.Sort()
	return c.diags
}

// eachLine points the checker at each line of src in turn and hands it to
// do, except a line longer than limit, which is reported instead.
func (c *checker) eachLine(src []byte, limit int, do func(l sourceLine)) {
	for _, l := range splitLines(src) {
		c.startLine(l)
		if c.checkLength(limit) {
			do(l)
		}
	}
}

// compiled is what every Parse function returns: the configuration and the
// sorted diagnostics, with no configuration when any of them is an error.
func compiled[T any](c *checker, conf *T) (*T, diag.List) {
	diags := c.finish()
	if diags.HasErrors() {
		return nil, diags
	}
	return conf, diags
}

func (c *checker) report(sev diag.Severity, col, endCol int, hint, msg string) {
	if endCol <= col {
		endCol = 0
	}
	c.diags.Add(diag.Diagnostic{
		File:     c.file,
		Line:     c.line.num,
		Col:      col,
		EndCol:   endCol,
		Severity: sev,
		Message:  msg,
		Hint:     hint,
		Source:   c.line.text,
	})
}

// failAt records the line's error at byte columns [col, endCol) unless the
// line already has one. It returns false so checks can `return c.failAt(...)`.
func (c *checker) failAt(col, endCol int, hint, format string, args ...any) bool {
	if !c.failed {
		c.failed = true
		if c.glued > 0 && (endCol == c.glued || col == c.glued) {
			const why = "the `:` right after it starts the shell command (an IPv6 address keeps its colons only when it is written correctly)"
			if hint == "" {
				hint = why
			} else {
				hint += "; " + why
			}
		}
		c.report(diag.Error, col, endCol, hint, fmt.Sprintf(format, args...))
	}
	return false
}

// failTok records the line's error under a whole token.
func (c *checker) failTok(t lexer.Token, hint, format string, args ...any) bool {
	return c.failAt(t.Pos.Column, tokEnd(t), hint, format, args...)
}

// failAfter records the line's error just past a token: where something
// that is missing should have been.
func (c *checker) failAfter(t lexer.Token, hint, format string, args ...any) bool {
	return c.failAt(tokEnd(t), 0, hint, format, args...)
}

func (c *checker) warnAt(col, endCol int, hint, format string, args ...any) {
	c.report(diag.Warning, col, endCol, hint, fmt.Sprintf(format, args...))
}

// tokEnd is the column just past a token.
func tokEnd(t lexer.Token) int { return t.Pos.Column + len(t.Value) }

// checkLength enforces the line limit of the legacy files, which 4.3 read
// into a fixed buffer: a longer line was cut and its tail read as a line of
// its own.
func (c *checker) checkLength(limit int) bool {
	if len(c.line.text) <= limit {
		return true
	}
	return c.failAt(limit+1, len(c.line.text)+1,
		"4.3 cut longer lines and read the rest as another line; shorten the line (a long user list can go in a user file)",
		"line is %d characters long; the limit is %d", len(c.line.text), limit)
}

// checkCommand checks the shell command after ':' and returns it trimmed.
func (c *checker) checkCommand(cut cutLine) string {
	if !cut.hasCommand {
		return ""
	}
	cmd := strings.TrimSpace(cut.command)
	if cmd == "" && !c.failed {
		c.warnAt(cut.colon+1, cut.colon+2, "remove the `:`, or write the command after it",
			"empty shell command after `:`")
	}
	return cmd
}

// ---- addresses ----

// onlyDigitsAndDots is the shape that must be an IPv4 address: 4.3 quietly
// took a mistyped address such as 10.1.2 or 10.0.0.300 for a host name that
// never matches.
func onlyDigitsAndDots(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] == '.' || '0' <= s[i] && s[i] <= '9') {
			return false
		}
	}
	return true
}

func ipv4Hint(s string) string {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return "an IPv4 address is four numbers separated by dots, like 10.1.2.0; 4.3 silently took anything else for a host name that never matches"
	}
	for _, p := range parts {
		switch {
		case p == "":
			return "an IPv4 address is four numbers separated by single dots"
		case len(p) > 1 && p[0] == '0':
			return "leading zeros are not allowed: 4.3 read them as octal (010 is 8)"
		}
		if n, err := strconv.Atoi(p); err != nil || n > 255 {
			return "each number of an IPv4 address is 0..255"
		}
	}
	return ""
}

// ipAt parses s, found at column col of the current line, as an IP address
// of either family. It is used for every field that is written like an
// address; zones are refused because rules match peers on any interface.
func (c *checker) ipAt(s string, col int, what string) (netip.Addr, bool) {
	end := col + len(s)
	if strings.ContainsRune(s, ':') {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return ip, c.failAt(col, end, "", "%s is not a valid IPv6 %s", quote(s), what)
		}
		if ip.Zone() != "" {
			z := strings.IndexByte(s, '%')
			return ip, c.failAt(col+z, end, "remove the zone: rules apply whatever the interface",
				"an IPv6 zone (%s) has no place in a rule's %s", quote(s[z:]), what)
		}
		return ip, true
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is4() {
		return ip, c.failAt(col, end, ipv4Hint(s), "%s is not a valid IPv4 %s", quote(s), what)
	}
	return ip, true
}

// isAddressLike reports whether a field must be read as an IP address
// rather than a host name pattern.
func isAddressLike(s string) bool { return onlyDigitsAndDots(s) || strings.ContainsRune(s, ':') }

// checkPattern validates a host name pattern: ALL, host.example or
// .example. Names only ever match what DNS returns, so other characters
// are typos.
func (c *checker) checkPattern(t lexer.Token) bool {
	s := t.Value
	const hint = "a host name pattern is `ALL`, a name like `host.example`, or a zone like `.example`"
	if s == "." {
		return c.failTok(t, hint, "%s is not a valid host name pattern", quote(s))
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		ok := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_' || b == '.'
		if !ok {
			return c.failAt(t.Pos.Column+i, t.Pos.Column+i+1, hint,
				"%s is not a valid address or host name pattern", quote(s))
		}
		if b == '.' && i+1 < len(s) && s[i+1] == '.' {
			return c.failAt(t.Pos.Column+i, t.Pos.Column+i+2, hint,
				"%s has an empty label", quote(s))
		}
	}
	return true
}

// checkMask parses a mask field: an address of either family.
func (c *checker) checkMask(t lexer.Token) (netip.Addr, bool) {
	s := t.Value
	ip, err := netip.ParseAddr(s)
	if err == nil && ip.Zone() == "" {
		return ip, true
	}
	hint := "a mask is written like an address: 255.255.255.0, or ffff:ffff:ffff:ffff:: for IPv6"
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 128 && !strings.ContainsAny(s, "+-") {
		hint = fmt.Sprintf("for a prefix length, write the address as addr/%d and no mask", n)
	} else if onlyDigitsAndDots(s) {
		if h := ipv4Hint(s); h != "" {
			hint = h
		}
	}
	return ip, c.failTok(t, hint, "%s is not a valid mask", quote(s))
}

// checkAddr converts an address pair (or CIDR) of the given role ("source",
// "destination") into a config.Addr. prevCIDR is the CIDR field just before
// this pair, if any, to explain the likely cause of a missing mask.
func (c *checker) checkAddr(n *AddrNode, role string, prevCIDR *lexer.Token) (config.Addr, bool) {
	if n.CIDR != nil {
		return c.checkCIDR(*n.CIDR)
	}
	a := *n.Addr
	var ip netip.Addr
	pattern := !isAddressLike(a.Value)
	if pattern {
		if !c.checkPattern(a) {
			return config.Addr{}, false
		}
	} else {
		var ok bool
		if ip, ok = c.ipAt(a.Value, a.Pos.Column, "address"); !ok {
			return config.Addr{}, false
		}
	}
	// rsockd(8) writes `direct ALL` and `sockd ALL`: a mask after ALL
	// could only ever be ignored, so none is needed.
	if n.Mask == nil && a.Value == "ALL" {
		return config.Addr{Kind: config.AddrPattern, Pattern: a.Value}, true
	}
	if n.Mask == nil {
		var hint string
		switch {
		case prevCIDR != nil:
			hint = fmt.Sprintf("%s needs no mask; if %s was meant as its mask, remove it", quote(prevCIDR.Value), quote(a.Value))
		case role == "destination" && looksLikePort(a.Value):
			hint = fmt.Sprintf("if %s is a port, put a comparison before it: `eq %s`", quote(a.Value), a.Value)
		case pattern:
			hint = fmt.Sprintf("the mask of a host name pattern is ignored but must be present: `%s 0.0.0.0`", a.Value)
		case ip.Is4():
			hint = fmt.Sprintf("for one host write `%s 255.255.255.255` or `%s/32`", a.Value, a.Value)
		default:
			hint = fmt.Sprintf("for one host write `%s/128`", a.Value)
		}
		return config.Addr{}, c.failAfter(a, hint, "a mask is needed after the %s address %s", role, quote(a.Value))
	}
	mask, ok := c.checkMask(*n.Mask)
	if !ok {
		return config.Addr{}, false
	}
	if pattern {
		return config.Addr{Kind: config.AddrPattern, Pattern: a.Value}, true
	}
	if mask.Is4() != ip.Is4() {
		return config.Addr{}, c.failTok(*n.Mask, "an address and its mask must be of the same family",
			"the mask %s is %s but the address %s is %s", quote(mask.String()), family(mask), quote(a.Value), family(ip))
	}
	return config.Addr{Kind: config.AddrMask, IP: ip, Mask: mask}, true
}

func family(ip netip.Addr) string {
	if ip.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// looksLikePort: a lone destination that is a number or a word was most
// likely meant as a port.
func looksLikePort(s string) bool {
	if _, err := strconv.Atoi(s); err == nil {
		return true
	}
	return !strings.ContainsAny(s, ".:")
}

// checkCIDR converts addr/len. The address is kept as written (not masked),
// as 4.3 kept addresses in "addr mask" pairs.
func (c *checker) checkCIDR(t lexer.Token) (config.Addr, bool) {
	s := t.Value
	slash := strings.IndexByte(s, '/')
	host, bits := s[:slash], s[slash+1:]
	slashCol := t.Pos.Column + slash
	if !isAddressLike(host) {
		return config.Addr{}, c.failAt(slashCol, tokEnd(t),
			fmt.Sprintf("a host name pattern takes a mask, which is ignored: `%s 0.0.0.0`", host),
			"a prefix length cannot follow the host name %s", quote(host))
	}
	ip, ok := c.ipAt(host, t.Pos.Column, "address")
	if !ok {
		return config.Addr{}, false
	}
	n, err := strconv.Atoi(bits)
	if err != nil || strings.ContainsAny(bits, "+-") {
		return config.Addr{}, c.failAt(slashCol, tokEnd(t), "write the prefix length as a number: addr/24",
			"%s is not a prefix length", quote("/"+bits))
	}
	if n < 0 || n > ip.BitLen() {
		return config.Addr{}, c.failAt(slashCol, tokEnd(t), "",
			"prefix length %s is out of range for %s (0..%d)", quote("/"+bits), family(ip), ip.BitLen())
	}
	return config.Addr{Kind: config.AddrMask, IP: ip, Mask: prefixMask(ip.BitLen(), n), CIDR: true}, true
}

// prefixMask is the mask with the first n of bitLen bits set.
func prefixMask(bitLen, n int) netip.Addr {
	var b [16]byte
	for i := 0; i < n; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	if bitLen == 32 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

// ---- port test ----

var opValue = map[string]config.PortOp{
	"eq": config.OpEQ, "neq": config.OpNEQ, "lt": config.OpLT,
	"gt": config.OpGT, "le": config.OpLE, "ge": config.OpGE,
}

func (c *checker) checkPort(n *PortNode) (config.PortTest, bool) {
	op := opValue[strings.ToLower(n.Op.Value)]
	if n.Value == nil {
		return config.PortTest{}, c.failAfter(n.Op,
			fmt.Sprintf("for example `%s 80` or `%s telnet`; 4.3 ignored a lone `%s` and matched every port", n.Op.Value, n.Op.Value, n.Op.Value),
			"a port is needed after %s", quote(n.Op.Value))
	}
	t := *n.Value
	s := t.Value
	digits := strings.TrimPrefix(s, "-")
	if digits != "" && strings.Trim(digits, "0123456789") == "" {
		p, err := strconv.ParseUint(digits, 10, 16)
		if err != nil || digits != s {
			return config.PortTest{}, c.failTok(t, "", "port %s is outside 0..65535", quote(s))
		}
		return config.PortTest{Op: op, Port: uint16(p)}, true
	}
	port, err := c.lookupService(s)
	if err != nil {
		hint := didYouMean(s, c.opts.ServiceNames(), "use a port number, or a TCP service name from /etc/services")
		return config.PortTest{}, c.failTok(t, hint, "unknown service %s", quote(s))
	}
	if port < 0 || port > 65535 {
		return config.PortTest{}, c.failTok(t, "", "service %s has port %d, outside 0..65535", quote(s), port)
	}
	return config.PortTest{Op: op, Port: uint16(port), Service: s}, true
}

func (c *checker) lookupService(name string) (int, error) {
	if a, ok := c.services[name]; ok {
		return a.port, a.err
	}
	port, err := c.opts.LookupService(name)
	c.services[name] = serviceAnswer{port, err}
	return port, err
}

// ---- ?= and *= ----

func (c *checker) checkIdent(t lexer.Token) (config.Ident, bool) {
	const choices = "use `?=I` (identd must confirm the user), `?=i` (refuse only when identd names another user) or `?=n` (no identd)"
	switch v := t.Value[2:]; v {
	case "I":
		return config.IdentStrict, true
	case "i":
		return config.IdentLenient, true
	case "n":
		return config.IdentOff, true
	case "":
		return 0, c.failTok(t, choices+"; 4.3 read an empty `?=` as `?=n`", "empty `?=` identd setting")
	default:
		return 0, c.failTok(t, choices, "unknown identd setting %s", quote(t.Value))
	}
}

// checkUsers splits a *= list, when the rule has one (t is not nil): user
// ids and /absolute/file names.
func (c *checker) checkUsers(tok *lexer.Token) ([]string, bool) {
	if tok == nil {
		return nil, true
	}
	t := *tok
	list := t.Value[2:]
	if list == "" {
		return nil, c.failTok(t, "name users after it, as in `*=alice,bob`, or remove `*=` to match every user",
			"empty `*=` user list")
	}
	entries := strings.Split(list, ",")
	col := t.Pos.Column + 2
	for _, e := range entries {
		end := col + len(e)
		switch {
		case e == "":
			return nil, c.failAt(col, col+1, "separate the entries with single commas and no blanks: `*=alice,bob`",
				"empty entry in the `*=` user list")
		case strings.IndexFunc(e, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0:
			return nil, c.failAt(col, end, "", "control character in the user list entry %s", quote(e))
		case e[0] == '/':
			if err := c.checkUserFile(e); err != nil {
				hint := ""
				if strings.Contains(userFileMessage(e, err), "does not exist") {
					hint = "4.3 treated a missing user file as matching nobody, which makes a `deny` rule fail open"
				}
				return nil, c.failAt(col, end, hint, "%s", userFileMessage(e, err))
			}
		case strings.ContainsRune(e, '/'):
			return nil, c.failAt(col, end,
				"name a user file by its absolute path, starting with `/`; 4.3 took this entry for a user name",
				"relative user file name %s", quote(e))
		}
		col = end + 1
	}
	return entries, true
}

func (c *checker) checkUserFile(path string) error {
	if err, ok := c.userFiles[path]; ok {
		return err
	}
	err := c.opts.CheckUserFile(path)
	c.userFiles[path] = err
	return err
}

// ---- leftovers ----

// checkLeftover reports the first field the grammar could not place.
// orderHint explains where the optional fields go in this file's syntax.
func (c *checker) checkLeftover(f lexer.Token, file string) bool {
	switch f.Type {
	case tokIdentField:
		if file == "socks.conf" {
			return c.failTok(f, "`?=` identd settings belong in sockd.conf", "unexpected %s", quote(f.Value))
		}
		return c.failTok(f, "`?=` comes right after the action", "%s is out of place", quote(f.Value))
	case tokUsersField:
		where := "after the action and any `?=`, before the source address"
		if file == "socks.conf" {
			where = "after the action and any `@=`, before the destination address"
		}
		return c.failTok(f, "`*=` comes "+where, "%s is out of place", quote(f.Value))
	case tokServersField:
		if file != "socks.conf" {
			return c.failTok(f, "`@=` server lists belong in socks.conf", "unexpected %s", quote(f.Value))
		}
		return c.failTok(f, "`@=` comes right after `sockd`", "%s is out of place", quote(f.Value))
	}
	hint := "a shell command must follow a `:`"
	if file == "sockd.route" {
		hint = "a route has three fields: interface address, destination address, destination mask"
	}
	return c.failTok(f, hint, "unexpected %s", quote(f.Value))
}

// missingAddr reports a line whose required first address pair (what:
// "source" or "destination") is absent: a port test or a stray field where
// it should be names that token, otherwise the report points after the
// line's last token with hint.
func (c *checker) missingAddr(port *PortNode, rest []*Field, toks []lexer.Token, what, file, hint string) bool {
	switch {
	case port != nil:
		return c.failTok(port.Op, "", "a %s address and mask are needed before %s", what, quote(port.Op.Value))
	case len(rest) > 0:
		return c.checkLeftover(rest[0].Tok, file)
	}
	last := lastToken(toks)
	return c.failAfter(last, hint, "a %s address and mask are needed after %s", what, quote(last.Value))
}

// lastToken is the last token of a parsed line, for "missing X after ...".
func lastToken(toks []lexer.Token) lexer.Token { return toks[len(toks)-1] }
