package grammar

import (
	"net/netip"
	"strings"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/diag"
)

// routeLineLimit is sockd.route(5)'s maximum line length.
const routeLineLimit = 1024

// ParseRoute compiles a sockd.route: "if_addr dst_addr dst_mask" lines.
// '#' starts a comment anywhere; there is no shell command in this file.
func ParseRoute(name string, src []byte, opts Options) (*config.RouteConf, diag.List) {
	c := newChecker(name, opts)
	conf := &config.RouteConf{Source: name}
	c.eachLine(src, routeLineLimit, func(l sourceLine) {
		rule := l.text
		if i := strings.IndexByte(rule, '#'); i >= 0 {
			rule = rule[:i]
		}
		toks := fieldTokens(name, l.num, 1, l.offset, rule)
		if len(toks) == 0 {
			return
		}
		ast := parseLine(c, routeParser, toks, eofAfter(l, rule))
		if ast == nil {
			return
		}
		if r, ok := c.route(ast); ok {
			r.Text = l.text
			conf.Routes = append(conf.Routes, r)
		}
	})
	return compiled(c, conf)
}

func (c *checker) route(ast *RouteLine) (config.Route, bool) {
	r := config.Route{Pos: config.Pos{Line: c.line.num, Col: ast.If.Pos.Column}}
	t := ast.If
	const ifHint = "the first field is the IP address of one of this host's interfaces"
	switch {
	case t.Type == tokSlashed:
		return r, c.failTok(t, ifHint+"; it takes no prefix length", "the interface address %s is not a single address", quote(t.Value))
	case !isAddressLike(t.Value):
		return r, c.failTok(t, ifHint+"; names are not allowed", "%s is not an interface address", quote(t.Value))
	case strings.ContainsRune(t.Value, ':'):
		// A zone is kept here: binding to a link-local address needs it.
		ip, err := netip.ParseAddr(t.Value)
		if err != nil {
			return r, c.failTok(t, "", "%s is not a valid IPv6 address", quote(t.Value))
		}
		r.If = ip
	default:
		ip, ok := c.ipAt(t.Value, t.Pos.Column, "address")
		if !ok {
			return r, false
		}
		r.If = ip
	}
	if ast.Dst == nil {
		if len(ast.Rest) > 0 {
			return r, c.checkLeftover(ast.Rest[0].Tok, "sockd.route")
		}
		return r, c.failAfter(t, "for example `10.0.0.1 192.168.0.0 255.255.0.0`, or `10.0.0.1 192.168.0.0/16`",
			"a destination address and mask are needed after the interface address")
	}
	var ok bool
	if r.Dst, ok = c.checkAddr(ast.Dst, "destination", nil); !ok {
		return r, false
	}
	if len(ast.Rest) > 0 {
		return r, c.checkLeftover(ast.Rest[0].Tok, "sockd.route")
	}
	return r, true
}
