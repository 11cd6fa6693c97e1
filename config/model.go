// Package config is the compiled form of the three legacy files: sockd.conf
// (server access rules), sockd.route (interface per destination) and
// socks.conf (client routing, also used by rsockd mode). The grammar package
// parses text into these types, the frozen package stores them, the policy
// package decides on them, and the dump tools print them back as canonical
// text (see format.go).
//
// The types carry msgpack tags because they are the body of the frozen
// files: keep tags stable, add new fields at the end, and never use Go maps
// here (their order is random, and frozen builds must be reproducible).
package config

import "net/netip"

// Pos is a position in a source file: 1-based line, 1-based byte column.
type Pos struct {
	Line int `msgpack:"l"`
	Col  int `msgpack:"c"`
}

// AddrKind says how an Addr matches.
type AddrKind uint8

const (
	// AddrAny matches every address and name: an omitted destination pair.
	AddrAny AddrKind = iota
	// AddrMask matches an IP address as (IP & Mask) == (addr & Mask), the
	// 4.3 netmask rule; Mask need not be contiguous. An all-zero mask
	// matches every address of either family.
	AddrMask
	// AddrPattern matches host names: "ALL" (anything), "host.example"
	// (that name, case-insensitively) or ".example" (the zone and every name
	// below it). The mask written after a pattern is ignored, as in 4.3.
	AddrPattern
)

// Addr is one "addr mask" pair (or its CIDR spelling "addr/len").
type Addr struct {
	Kind AddrKind   `msgpack:"k"`
	IP   netip.Addr `msgpack:"ip,omitempty"`   // AddrMask: the configured address, not necessarily pre-masked
	Mask netip.Addr `msgpack:"mask,omitempty"` // AddrMask: same family as IP
	// CIDR records that the pair was written as addr/len, so the dump
	// prints it back the same way.
	CIDR bool `msgpack:"cidr,omitempty"`
	// Pattern is the name pattern as written (AddrPattern only).
	Pattern string `msgpack:"pat,omitempty"`
}

// Action is what a sockd.conf rule does when it matches.
type Action uint8

const (
	Deny Action = iota
	Permit
)

func (a Action) String() string {
	if a == Permit {
		return "permit"
	}
	return "deny"
}

// Ident is a rule's ?= setting: whether identd (RFC 1413) is asked after a
// permit rule matched.
type Ident uint8

const (
	IdentDefault Ident = iota // no ?= field: the daemon's -i/-I setting applies
	IdentOff                  // ?=n
	IdentLenient              // ?=i: refuse only when identd names another user
	IdentStrict               // ?=I: also refuse when identd cannot be reached
)

// PortOp compares the request's destination port with a rule's port:
// request_port OP rule_port, as 4.3's socks_ckprt.
type PortOp uint8

const (
	OpNone PortOp = iota // no port test: every port matches
	OpEQ
	OpNEQ
	OpLT
	OpGT
	OpLE
	OpGE
)

var opNames = [...]string{"", "eq", "neq", "lt", "gt", "le", "ge"}

func (o PortOp) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "?"
}

// Match reports whether port satisfies the test against want.
func (o PortOp) Match(port, want uint16) bool {
	switch o {
	case OpNone:
		return true
	case OpEQ:
		return port == want
	case OpNEQ:
		return port != want
	case OpLT:
		return port < want
	case OpGT:
		return port > want
	case OpLE:
		return port <= want
	case OpGE:
		return port >= want
	}
	return false
}

// PortTest is the optional "op dst_port" field.
type PortTest struct {
	Op   PortOp `msgpack:"op,omitempty"`
	Port uint16 `msgpack:"port,omitempty"`
	// Service is the TCP service name as written ("telnet"), empty when the
	// port was written as a number. The dump prints it back as written.
	Service string `msgpack:"svc,omitempty"`
}

// Rule is one sockd.conf line.
type Rule struct {
	Pos    Pos    `msgpack:"pos"`
	Action Action `msgpack:"act"`
	Ident  Ident  `msgpack:"id,omitempty"`
	// Users is the *=userlist: user ids and /absolute/file names in the
	// order written. Nil means the rule applies to every user.
	Users []string `msgpack:"users,omitempty"`
	Src   Addr     `msgpack:"src"`
	Dst   Addr     `msgpack:"dst"` // Kind AddrAny when the pair was omitted
	Port  PortTest `msgpack:"port"`
	// Command is the shell command after the first ':' (trimmed), empty
	// when there is none. Its %-substitutions are expanded at decision time.
	Command string `msgpack:"cmd,omitempty"`
	// Text is the source line as written, so that the simulator shows the
	// same text whether it loaded the text file or its frozen form.
	Text string `msgpack:"text"`
}

// Special is a #NO_IDENTD: or #BAD_ID: line.
type Special struct {
	Pos     Pos    `msgpack:"pos"`
	Command string `msgpack:"cmd"`
	Text    string `msgpack:"text"`
}

// SockdConf is a compiled sockd.conf.
type SockdConf struct {
	Source string `msgpack:"src"` // the file name it was compiled from
	Rules  []Rule `msgpack:"rules"`
	// NoIdentd and BadID are the first #NO_IDENTD: and #BAD_ID: lines (4.3
	// runs the first one it finds), nil when absent.
	NoIdentd *Special `msgpack:"noident,omitempty"`
	BadID    *Special `msgpack:"badid,omitempty"`
}

// Route is one sockd.route line: use interface address If for destinations
// matching Dst.
type Route struct {
	Pos  Pos        `msgpack:"pos"`
	If   netip.Addr `msgpack:"if"`
	Dst  Addr       `msgpack:"dst"`
	Text string     `msgpack:"text"`
}

// RouteConf is a compiled sockd.route.
type RouteConf struct {
	Source string  `msgpack:"src"`
	Routes []Route `msgpack:"routes"`
}

// ClientAction is what a socks.conf line does.
type ClientAction uint8

const (
	ClientDeny   ClientAction = iota // refuse the connection
	ClientDirect                     // connect without a proxy
	ClientSockd                      // go through the listed servers
)

func (a ClientAction) String() string {
	switch a {
	case ClientDirect:
		return "direct"
	case ClientSockd:
		return "sockd"
	}
	return "deny"
}

// Server is one entry of a socks.conf @=serverlist.
type Server struct {
	// Scheme is the protocol spoken to the server: "socks4" (the 4.3 form
	// host[:port]), "socks4a", "socks5", "socks5h" (names resolved by the
	// server) or "http" (CONNECT).
	Scheme string `msgpack:"scheme"`
	Host   string `msgpack:"host"` // name or address, IPv6 without brackets
	Port   uint16 `msgpack:"port"` // default 1080 for SOCKS, 8080 for http
	// URL records that the entry was written as scheme://host[:port].
	URL bool `msgpack:"url,omitempty"`
	// Pinned servers come from a srelay.conf line: the server is reached
	// through Via (the nearer hops, farthest first, as srelay lists them)
	// and the last of them directly, never through the rules again.
	// srelay.conf has no frozen form: these are never in frozen files.
	Pinned bool     `msgpack:"-"`
	Via    []Server `msgpack:"-"`
}

// ClientRule is one socks.conf line.
type ClientRule struct {
	Pos    Pos          `msgpack:"pos"`
	Action ClientAction `msgpack:"act"`
	// Servers is the @=serverlist in order; nil means the default server
	// (SOCKS_SERVER), as in 4.3.
	Servers []Server `msgpack:"servers,omitempty"`
	Users   []string `msgpack:"users,omitempty"` // as Rule.Users
	Dst     Addr     `msgpack:"dst"`             // required in socks.conf
	Port    PortTest `msgpack:"port"`
	// PortMax, when not 0, is the upper end of srelay.conf's N-M range:
	// Port is then `ge N`. Never in frozen files (srelay.conf only).
	PortMax uint16 `msgpack:"-"`
	Command string `msgpack:"cmd,omitempty"`
	Text    string `msgpack:"text"`
}

// SocksConf is a compiled socks.conf.
type SocksConf struct {
	Source string       `msgpack:"src"`
	Rules  []ClientRule `msgpack:"rules"`
	// Srelay marks rules compiled from a srelay.conf, which srelay
	// follows: a destination no line matches is connected directly
	// (socks.conf refuses it), and loopback destinations go by the lines
	// like any other (4.3 always reached them directly).
	// Never in frozen files: srelay.conf has no frozen form.
	Srelay bool `msgpack:"-"`
}
