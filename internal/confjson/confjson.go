// Package confjson is the JSON form of the three rule files (sockd.conf,
// sockd.route, socks.conf) that the dump tools print with --json: the same
// facts as the canonical text (config's Write functions), with enums
// spelled as words so that scripts need no table.
//
// Parsing is grammar's, the data types are config's, the frozen container
// and its header are frozen's; dump_* --json is internal/rulefile's Dump.
package confjson

import "github.com/sockd/sockd/config"

type jsonAddr struct {
	Kind    string `json:"kind"` // "any", "mask" or "pattern"
	Addr    string `json:"addr,omitempty"`
	Mask    string `json:"mask,omitempty"`
	CIDR    bool   `json:"cidr,omitempty"`
	Pattern string `json:"pattern,omitempty"`
	Text    string `json:"text"` // the canonical spelling
}

func toJSONAddr(a config.Addr) jsonAddr {
	j := jsonAddr{Text: a.Canonical()}
	switch a.Kind {
	case config.AddrMask:
		j.Kind, j.Addr, j.Mask, j.CIDR = "mask", a.IP.String(), a.Mask.String(), a.CIDR
	case config.AddrPattern:
		j.Kind, j.Pattern = "pattern", a.Pattern
	default:
		j.Kind = "any"
	}
	return j
}

type jsonPort struct {
	Op      string `json:"op"`
	Port    uint16 `json:"port"`
	Service string `json:"service,omitempty"`
}

func toJSONPort(p config.PortTest) *jsonPort {
	if p.Op == config.OpNone {
		return nil
	}
	return &jsonPort{Op: p.Op.String(), Port: p.Port, Service: p.Service}
}

var identNames = map[config.Ident]string{config.IdentOff: "n", config.IdentLenient: "i", config.IdentStrict: "I"}

type jsonRule struct {
	Line      int       `json:"line"`
	Action    string    `json:"action"`
	Ident     string    `json:"ident,omitempty"` // "n", "i", "I"; absent: the daemon's -i/-I
	Users     []string  `json:"users,omitempty"`
	Src       jsonAddr  `json:"src"`
	Dst       jsonAddr  `json:"dst"`
	Port      *jsonPort `json:"port,omitempty"`
	Command   string    `json:"command,omitempty"`
	Canonical string    `json:"canonical"`
	Text      string    `json:"text"`
}

type jsonSpecial struct {
	Line    int    `json:"line"`
	Command string `json:"command"`
}

func toJSONSpecial(s *config.Special) *jsonSpecial {
	if s == nil {
		return nil
	}
	return &jsonSpecial{Line: s.Pos.Line, Command: s.Command}
}

// Sockd is the JSON form of a sockd.conf: its special lines and its rules.
func Sockd(c *config.SockdConf) any {
	rules := make([]jsonRule, len(c.Rules))
	for i, r := range c.Rules {
		rules[i] = jsonRule{Line: r.Pos.Line, Action: r.Action.String(), Ident: identNames[r.Ident], Users: r.Users,
			Src: toJSONAddr(r.Src), Dst: toJSONAddr(r.Dst), Port: toJSONPort(r.Port), Command: r.Command,
			Canonical: r.Canonical(), Text: r.Text}
	}
	return struct {
		NoIdentd *jsonSpecial `json:"no_identd,omitempty"`
		BadID    *jsonSpecial `json:"bad_id,omitempty"`
		Rules    []jsonRule   `json:"rules"`
	}{toJSONSpecial(c.NoIdentd), toJSONSpecial(c.BadID), rules}
}

type jsonRoute struct {
	Line      int      `json:"line"`
	Interface string   `json:"interface"`
	Dst       jsonAddr `json:"dst"`
	Canonical string   `json:"canonical"`
	Text      string   `json:"text"`
}

// Routes is the JSON form of a sockd.route: one object per route.
func Routes(c *config.RouteConf) any {
	out := make([]jsonRoute, len(c.Routes))
	for i, r := range c.Routes {
		out[i] = jsonRoute{Line: r.Pos.Line, Interface: r.If.String(), Dst: toJSONAddr(r.Dst), Canonical: r.Canonical(), Text: r.Text}
	}
	return out
}

type jsonServer struct {
	Scheme string `json:"scheme"`
	Host   string `json:"host"`
	Port   uint16 `json:"port"`
}

type jsonClientRule struct {
	Line      int          `json:"line"`
	Action    string       `json:"action"`
	Servers   []jsonServer `json:"servers,omitempty"`
	Users     []string     `json:"users,omitempty"`
	Dst       jsonAddr     `json:"dst"`
	Port      *jsonPort    `json:"port,omitempty"`
	Command   string       `json:"command,omitempty"`
	Canonical string       `json:"canonical"`
	Text      string       `json:"text"`
}

// Socks is the JSON form of a socks.conf: one object per rule.
func Socks(c *config.SocksConf) any {
	out := make([]jsonClientRule, len(c.Rules))
	for i, r := range c.Rules {
		var servers []jsonServer
		for _, s := range r.Servers {
			servers = append(servers, jsonServer{s.Scheme, s.Host, s.Port})
		}
		out[i] = jsonClientRule{Line: r.Pos.Line, Action: r.Action.String(), Servers: servers, Users: r.Users,
			Dst: toJSONAddr(r.Dst), Port: toJSONPort(r.Port), Command: r.Command, Canonical: r.Canonical(), Text: r.Text}
	}
	return out
}
