package grammar

import (
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/diag"
)

// socksLineLimit is socks.conf(5)'s maximum line length.
const socksLineLimit = 1024

// schemeDefaultPort lists the server URL schemes a socks.conf accepts.
var schemeDefaultPort = map[string]uint16{
	"socks4": 1080, "socks4a": 1080, "socks5": 1080, "socks5h": 1080, "http": 8080,
}

var schemeNames = []string{"socks4", "socks4a", "socks5", "socks5h", "http"}

// skippedSocksKeywords start lines that 4.3's client parser skipped: they
// configured its resolver in older releases.
var skippedSocksKeywords = []string{"domain", "nameserver", "bind", "findserver"}

// ParseSocks compiles a socks.conf (the client file, also used by rsockd).
func ParseSocks(name string, src []byte, opts Options) (*config.SocksConf, diag.List) {
	c := newChecker(name, opts)
	conf := &config.SocksConf{Source: name}
	keepsColons := func(field string, first bool) bool {
		return looksLikeIPv6Field(field) || strings.HasPrefix(field, "@=") ||
			first && len(field) > 6 && strings.EqualFold(field[:6], "sockd@")
	}
	c.eachLine(src, socksLineLimit, func(l sourceLine) {
		cut, toks := c.ruleTokens(l, keepsColons, "a socks.conf line begins with `deny`, `direct` or `sockd`")
		if len(toks) == 0 {
			return
		}
		if kw := toks[0].Value; containsFold(skippedSocksKeywords, kw) {
			c.warnAt(toks[0].Pos.Column, tokEnd(toks[0]), "4.3 skipped these lines too; delete it",
				"%s lines are ignored", quote(kw))
			return
		}
		ast := parseLine(c, socksParser, toks, eofAfter(l, cut.rule))
		if ast == nil {
			return
		}
		if r, ok := c.socksRule(ast, toks, cut); ok {
			r.Text = l.text
			conf.Rules = append(conf.Rules, r)
		}
	})
	return compiled(c, conf)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (c *checker) socksRule(ast *SocksLine, toks []lexer.Token, cut cutLine) (config.ClientRule, bool) {
	act := ast.Action
	r := config.ClientRule{Pos: config.Pos{Line: c.line.num, Col: act.Pos.Column}}
	var ok bool
	lower := strings.ToLower(act.Value)
	switch {
	case lower == "deny":
		r.Action = config.ClientDeny
	case lower == "direct":
		r.Action = config.ClientDirect
	case lower == "sockd":
		r.Action = config.ClientSockd
	case strings.HasPrefix(lower, "sockd@"):
		// 4.3's undocumented spelling of "sockd @=host1,host2".
		r.Action = config.ClientSockd
		if r.Servers, ok = c.checkServers(act.Value[6:], act.Pos.Column+6, "sockd@"); !ok {
			return r, false
		}
	default:
		return r, c.failTok(act,
			didYouMean(act.Value, []string{"deny", "direct", "sockd"}, "a socks.conf line begins with `deny`, `direct` or `sockd`"),
			"unknown action %s", quote(act.Value))
	}
	if ast.Servers != nil {
		t := *ast.Servers
		switch {
		case r.Action != config.ClientSockd:
			return r, c.failTok(t, "only `sockd` lines go through servers", "a %s line takes no server list", quote(act.Value))
		case r.Servers != nil:
			return r, c.failTok(t, "list every server in one place: `sockd @=host1,host2`", "a second server list")
		}
		if r.Servers, ok = c.checkServers(t.Value[2:], t.Pos.Column+2, "@="); !ok {
			return r, false
		}
	}
	if r.Users, ok = c.checkUsers(ast.Users); !ok {
		return r, false
	}
	if ast.Dst == nil {
		return r, c.missingAddr(ast.Port, ast.Rest, toks, "destination", "socks.conf",
			"socks.conf lines always name a destination; `0.0.0.0 0.0.0.0` matches every address")
	}
	if r.Dst, ok = c.checkAddr(ast.Dst, "destination", nil); !ok {
		return r, false
	}
	r.Port, r.Command, ok = c.ruleEnd(ast.Port, ast.Rest, cut, "socks.conf")
	return r, ok
}

// checkServers parses a server list found at column col; intro is how the
// list was introduced ("@=" or "sockd@"), for messages.
func (c *checker) checkServers(list string, col int, intro string) ([]config.Server, bool) {
	if list == "" {
		return nil, c.failAt(col-len(intro), col,
			"name the servers, as in `@=proxy1,proxy2`, or remove it to use the default server (SOCKS_SERVER); 4.3 crashed on this",
			"empty server list after %s", quote(intro))
	}
	var servers []config.Server
	for _, e := range strings.Split(list, ",") {
		if e == "" {
			return nil, c.failAt(col, col+1, "separate the servers with single commas and no blanks",
				"empty entry in the server list")
		}
		s, ok := c.checkServer(e, col)
		if !ok {
			return nil, false
		}
		servers = append(servers, s)
		col += len(e) + 1
	}
	return servers, true
}

// checkServer parses host[:port] (4.3's form, spoken to as SOCKS4) or
// scheme://host[:port].
func (c *checker) checkServer(e string, col int) (config.Server, bool) {
	end := col + len(e)
	i := strings.Index(e, "://")
	if i < 0 {
		host, port, ok := c.checkHostPort(e, col, 1080)
		return config.Server{Scheme: "socks4", Host: host, Port: port}, ok
	}
	scheme := strings.ToLower(e[:i])
	def, known := schemeDefaultPort[scheme]
	if !known {
		return config.Server{}, c.failAt(col, col+i,
			didYouMean(e[:i], schemeNames, "the schemes are socks4, socks4a, socks5, socks5h and http"),
			"unknown server scheme %s", quote(e[:i]))
	}
	rest, restCol := e[i+3:], col+i+3
	if j := strings.IndexAny(rest, "/?"); j >= 0 {
		if rest[j:] != "/" {
			return config.Server{}, c.failAt(restCol+j, end, "write the server as scheme://host[:port]",
				"a server URL cannot have a path or query (%s)", quote(rest[j:]))
		}
		rest = rest[:j]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		// The credentials themselves are not repeated in the message.
		return config.Server{}, c.failAt(restCol, restCol+at+1,
			"credentials belong in a separate file that only the client can read, not in socks.conf",
			"a server URL cannot carry a user name or password")
	}
	host, port, ok := c.checkHostPort(rest, restCol, def)
	return config.Server{Scheme: scheme, Host: host, Port: port, URL: true}, ok
}

// checkHostPort parses host, host:port, [v6] or [v6]:port.
func (c *checker) checkHostPort(s string, col int, defPort uint16) (string, uint16, bool) {
	end := col + len(s)
	if s == "" {
		return "", 0, c.failAt(col, col+1, "", "a server needs a host")
	}
	var host, port string
	hasPort := false
	switch {
	case s[0] == '[':
		closing := strings.IndexByte(s, ']')
		if closing < 0 {
			return "", 0, c.failAt(col, end, "write an IPv6 server as `[::1]` or `[::1]:1080`", "missing `]` in %s", quote(s))
		}
		host = s[1:closing]
		if !strings.ContainsRune(host, ':') {
			return "", 0, c.failAt(col, col+closing+1, "brackets are only for IPv6 addresses", "%s is not an IPv6 address", quote(host))
		}
		if _, ok := c.ipAt(host, col+1, "address"); !ok {
			return "", 0, false
		}
		after := s[closing+1:]
		if after != "" {
			if after[0] != ':' {
				return "", 0, c.failAt(col+closing+1, end, "a port follows a `:`", "unexpected %s after the IPv6 address", quote(after))
			}
			port, hasPort = after[1:], true
		}
	case strings.Count(s, ":") > 1:
		return "", 0, c.failAt(col, end, "write an IPv6 server in brackets, as `[::1]` or `[::1]:1080`",
			"an IPv6 server address needs brackets: %s", quote(s))
	default:
		host = s
		if k := strings.IndexByte(s, ':'); k >= 0 {
			host, port, hasPort = s[:k], s[k+1:], true
		}
		switch {
		case host == "":
			return "", 0, c.failAt(col, col+1, "", "a server needs a host")
		case onlyDigitsAndDots(host):
			if _, ok := c.ipAt(host, col, "address"); !ok {
				return "", 0, false
			}
		default:
			if !c.checkPattern(lexer.Token{Value: host, Pos: lexer.Position{Column: col}}) {
				return "", 0, false
			}
		}
	}
	if !hasPort {
		return host, defPort, true
	}
	portCol := end - len(port)
	if port == "" {
		return "", 0, c.failAt(portCol-1, portCol, "write the port after the `:`, or drop the `:` for the default", "a port is needed after `:`")
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 || strings.ContainsAny(port, "+-") {
		return "", 0, c.failAt(portCol, max(end, portCol+1), "a server port is a number 1..65535",
			"invalid server port %s", quote(port))
	}
	return host, uint16(p), true
}
