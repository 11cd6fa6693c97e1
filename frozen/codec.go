package frozen

import (
	"net/netip"

	"github.com/sockd/sockd/config"
)

// The field sets below mirror the msgpack tags of the config types, in Go
// field order, which is the order msgpack/v5 writes struct fields in.
// TestFieldSetsMatchTags derives the same lists from the tags by reflection,
// so a field added to config without teaching this file fails the tests
// instead of being silently dropped from frozen files.
var (
	posFields = newFieldSet("position",
		[]string{"l", "c"},
		[]bool{false, false})
	addrFields = newFieldSet("address",
		[]string{"k", "ip", "mask", "cidr", "pat"},
		[]bool{false, true, true, true, true})
	portFields = newFieldSet("port test",
		[]string{"op", "port", "svc"},
		[]bool{true, true, true})
	ruleFields = newFieldSet("rule",
		[]string{"pos", "act", "id", "users", "src", "dst", "port", "cmd", "text"},
		[]bool{false, false, true, true, false, false, false, true, false})
	specialFields = newFieldSet("special line",
		[]string{"pos", "cmd", "text"},
		[]bool{false, false, false})
	sockdFields = newFieldSet("sockd.conf payload",
		[]string{"src", "rules", "noident", "badid"},
		[]bool{false, false, true, true})
	routeFields = newFieldSet("route",
		[]string{"pos", "if", "dst", "text"},
		[]bool{false, false, false, false})
	routeConfFields = newFieldSet("sockd.route payload",
		[]string{"src", "routes"},
		[]bool{false, false})
	serverFields = newFieldSet("server",
		[]string{"scheme", "host", "port", "url"},
		[]bool{false, false, false, true})
	clientRuleFields = newFieldSet("client rule",
		[]string{"pos", "act", "servers", "users", "dst", "port", "cmd", "text"},
		[]bool{false, false, true, true, false, false, true, false})
	socksFields = newFieldSet("socks.conf payload",
		[]string{"src", "rules"},
		[]bool{false, false})
	metaFields = newFieldSet("meta",
		[]string{"source", "source_sha256", "compiler"},
		[]bool{false, false, false})
	bodyFields = newFieldSet("body",
		[]string{"meta", "sockd", "route", "socks"},
		[]bool{false, true, true, true})
)

// Lower bounds of the encoded size of the structs that come in arrays
// (the map header plus the required keys with the smallest values). They
// cap the capacity allocated from an array header before its elements have
// been read. TestMinEncodedSizes checks that they are not too large.
const (
	minRuleBytes       = 40
	minRouteBytes      = 20
	minClientRuleBytes = 32
	minServerBytes     = 16
	minUserBytes       = 1
)

// body is the msgpack body of every frozen file: the metadata and exactly
// one payload, the one matching the header's kind.
type body struct {
	Meta  Meta              `msgpack:"meta"`
	Sockd *config.SockdConf `msgpack:"sockd,omitempty"`
	Route *config.RouteConf `msgpack:"route,omitempty"`
	Socks *config.SocksConf `msgpack:"socks,omitempty"`
}

// countSet counts the fields an encoder will write: the required ones plus
// each optional one that is set.
func countSet(fs *fieldSet, set ...bool) int {
	n := 0
	for _, opt := range fs.optional {
		if !opt {
			n++
		}
	}
	for _, s := range set {
		if s {
			n++
		}
	}
	return n
}

func (w *writer) encodeBody(b *body) {
	w.mapLen(countSet(bodyFields, b.Sockd != nil, b.Route != nil, b.Socks != nil))
	w.str("meta")
	w.mapLen(3)
	w.str("source")
	w.str(b.Meta.Source)
	w.str("source_sha256")
	w.str(b.Meta.SourceSHA256)
	w.str("compiler")
	w.str(b.Meta.Compiler)
	if b.Sockd != nil {
		w.str("sockd")
		w.sockdConf(b.Sockd)
	}
	if b.Route != nil {
		w.str("route")
		w.routeConf(b.Route)
	}
	if b.Socks != nil {
		w.str("socks")
		w.socksConf(b.Socks)
	}
}

func (w *writer) pos(p config.Pos) {
	w.mapLen(2)
	w.str("l")
	w.int(int64(p.Line))
	w.str("c")
	w.int(int64(p.Col))
}

// ip writes an address as msgpack/v5 writes an encoding.BinaryMarshaler:
// binary data holding netip.Addr.MarshalBinary (0, 4, or 16+zone bytes).
func (w *writer) ip(a netip.Addr) {
	var tmp [16 + 32]byte
	b, _ := a.AppendBinary(tmp[:0]) // never fails for netip.Addr
	w.bin(b)
}

func (w *writer) addr(a *config.Addr) {
	w.mapLen(countSet(addrFields, a.IP.IsValid(), a.Mask.IsValid(), a.CIDR, a.Pattern != ""))
	w.str("k")
	w.uint(uint64(a.Kind))
	if a.IP.IsValid() {
		w.str("ip")
		w.ip(a.IP)
	}
	if a.Mask.IsValid() {
		w.str("mask")
		w.ip(a.Mask)
	}
	if a.CIDR {
		w.str("cidr")
		w.bool(true)
	}
	if a.Pattern != "" {
		w.str("pat")
		w.str(a.Pattern)
	}
}

func (w *writer) portTest(p *config.PortTest) {
	w.mapLen(countSet(portFields, p.Op != 0, p.Port != 0, p.Service != ""))
	if p.Op != 0 {
		w.str("op")
		w.uint(uint64(p.Op))
	}
	if p.Port != 0 {
		w.str("port")
		w.uint(uint64(p.Port))
	}
	if p.Service != "" {
		w.str("svc")
		w.str(p.Service)
	}
}

func (w *writer) strings(list []string) {
	w.arrayLen(len(list))
	for _, s := range list {
		w.str(s)
	}
}

func (w *writer) rule(r *config.Rule) {
	w.mapLen(countSet(ruleFields, r.Ident != 0, len(r.Users) > 0, r.Command != ""))
	w.str("pos")
	w.pos(r.Pos)
	w.str("act")
	w.uint(uint64(r.Action))
	if r.Ident != 0 {
		w.str("id")
		w.uint(uint64(r.Ident))
	}
	if len(r.Users) > 0 {
		w.str("users")
		w.strings(r.Users)
	}
	w.str("src")
	w.addr(&r.Src)
	w.str("dst")
	w.addr(&r.Dst)
	w.str("port")
	w.portTest(&r.Port)
	if r.Command != "" {
		w.str("cmd")
		w.str(r.Command)
	}
	w.str("text")
	w.str(r.Text)
}

func (w *writer) special(s *config.Special) {
	w.mapLen(3)
	w.str("pos")
	w.pos(s.Pos)
	w.str("cmd")
	w.str(s.Command)
	w.str("text")
	w.str(s.Text)
}

func (w *writer) sockdConf(c *config.SockdConf) {
	w.mapLen(countSet(sockdFields, c.NoIdentd != nil, c.BadID != nil))
	w.str("src")
	w.str(c.Source)
	w.str("rules")
	if c.Rules == nil {
		w.nil()
	} else {
		w.arrayLen(len(c.Rules))
		for i := range c.Rules {
			w.rule(&c.Rules[i])
		}
	}
	if c.NoIdentd != nil {
		w.str("noident")
		w.special(c.NoIdentd)
	}
	if c.BadID != nil {
		w.str("badid")
		w.special(c.BadID)
	}
}

func (w *writer) routeConf(c *config.RouteConf) {
	w.mapLen(2)
	w.str("src")
	w.str(c.Source)
	w.str("routes")
	if c.Routes == nil {
		w.nil()
		return
	}
	w.arrayLen(len(c.Routes))
	for i := range c.Routes {
		rt := &c.Routes[i]
		w.mapLen(4)
		w.str("pos")
		w.pos(rt.Pos)
		w.str("if")
		w.ip(rt.If)
		w.str("dst")
		w.addr(&rt.Dst)
		w.str("text")
		w.str(rt.Text)
	}
}

func (w *writer) server(s *config.Server) {
	w.mapLen(countSet(serverFields, s.URL))
	w.str("scheme")
	w.str(s.Scheme)
	w.str("host")
	w.str(s.Host)
	w.str("port")
	w.uint(uint64(s.Port))
	if s.URL {
		w.str("url")
		w.bool(true)
	}
}

func (w *writer) clientRule(r *config.ClientRule) {
	w.mapLen(countSet(clientRuleFields, len(r.Servers) > 0, len(r.Users) > 0, r.Command != ""))
	w.str("pos")
	w.pos(r.Pos)
	w.str("act")
	w.uint(uint64(r.Action))
	if len(r.Servers) > 0 {
		w.str("servers")
		w.arrayLen(len(r.Servers))
		for i := range r.Servers {
			w.server(&r.Servers[i])
		}
	}
	if len(r.Users) > 0 {
		w.str("users")
		w.strings(r.Users)
	}
	w.str("dst")
	w.addr(&r.Dst)
	w.str("port")
	w.portTest(&r.Port)
	if r.Command != "" {
		w.str("cmd")
		w.str(r.Command)
	}
	w.str("text")
	w.str(r.Text)
}

func (w *writer) socksConf(c *config.SocksConf) {
	w.mapLen(2)
	w.str("src")
	w.str(c.Source)
	w.str("rules")
	if c.Rules == nil {
		w.nil()
		return
	}
	w.arrayLen(len(c.Rules))
	for i := range c.Rules {
		w.clientRule(&c.Rules[i])
	}
}

// Decoding. Each function reads one value; on error the reader's sticky
// error is set and the value is incomplete, which is fine because the
// caller discards everything when r.err is set.

func (r *reader) body() *body {
	b := &body{}
	m := r.openMap(bodyFields)
	for {
		switch m.field() {
		case -1:
			return b
		case 0:
			mm := r.openMap(metaFields)
			for done := false; !done; {
				switch mm.field() {
				case -1:
					done = true
				case 0:
					b.Meta.Source = r.str("meta source")
				case 1:
					b.Meta.SourceSHA256 = r.str("meta source_sha256")
				case 2:
					b.Meta.Compiler = r.str("meta compiler")
				}
			}
		case 1:
			b.Sockd = r.sockdConf()
		case 2:
			b.Route = r.routeConf()
		case 3:
			b.Socks = r.socksConf()
		}
	}
}

func (r *reader) pos() (p config.Pos) {
	m := r.openMap(posFields)
	for {
		switch m.field() {
		case -1:
			return p
		case 0:
			p.Line = r.int("line")
		case 1:
			p.Col = r.int("column")
		}
	}
}

func (r *reader) ip(what string) netip.Addr {
	at := r.off
	b := r.bin(what)
	switch {
	case r.err != nil:
		return netip.Addr{}
	case len(b) == 0:
		return netip.Addr{}
	case len(b) == 4:
		return netip.AddrFrom4([4]byte(b))
	case len(b) == 16:
		return netip.AddrFrom16([16]byte(b))
	case len(b) > 16:
		var a netip.Addr
		if err := a.UnmarshalBinary(b); err != nil {
			r.failf(at, "%s: %v", what, err)
		}
		return a
	}
	r.failf(at, "%s: an IP address cannot be %d bytes long", what, len(b))
	return netip.Addr{}
}

// addrNames names the parts of one address field in messages; they are
// built once because decoding must not allocate per field.
type addrNames struct{ kind, ip, mask, cidr, pattern string }

func newAddrNames(what string) *addrNames {
	return &addrNames{what + " kind", what + " ip", what + " mask", what + " cidr", what + " pattern"}
}

var (
	srcNames = newAddrNames("source")
	dstNames = newAddrNames("destination")
)

func (r *reader) addr(what *addrNames) (a config.Addr) {
	m := r.openMap(addrFields)
	for {
		switch m.field() {
		case -1:
			return a
		case 0:
			a.Kind = config.AddrKind(r.uint(255, what.kind))
		case 1:
			a.IP = r.ip(what.ip)
		case 2:
			a.Mask = r.ip(what.mask)
		case 3:
			a.CIDR = r.bool(what.cidr)
		case 4:
			a.Pattern = r.str(what.pattern)
		}
	}
}

func (r *reader) portTest() (p config.PortTest) {
	m := r.openMap(portFields)
	for {
		switch m.field() {
		case -1:
			return p
		case 0:
			p.Op = config.PortOp(r.uint(255, "port operator"))
		case 1:
			p.Port = uint16(r.uint(65535, "port"))
		case 2:
			p.Service = r.str("port service")
		}
	}
}

// readList reads an array whose elements one decodes. A msgpack nil (when
// nilOK) gives a nil slice. The slice is preallocated no larger than the
// bytes left could hold at minBytes an element, so a hostile length field
// cannot force a huge allocation.
func readList[T any](r *reader, what string, nilOK bool, minBytes int, one func() T) []T {
	n, isNil := r.arrayLen(what, nilOK)
	if isNil {
		return nil
	}
	list := make([]T, 0, min(n, r.left()/minBytes))
	for i := 0; i < n && r.err == nil; i++ {
		list = append(list, one())
	}
	return list
}

func (r *reader) strings(what string) []string {
	return readList(r, what, false, minUserBytes, func() string { return r.str(what) })
}

func (r *reader) rule() (x config.Rule) {
	m := r.openMap(ruleFields)
	for {
		switch m.field() {
		case -1:
			return x
		case 0:
			x.Pos = r.pos()
		case 1:
			x.Action = config.Action(r.uint(255, "action"))
		case 2:
			x.Ident = config.Ident(r.uint(255, "ident"))
		case 3:
			x.Users = r.strings("users")
		case 4:
			x.Src = r.addr(srcNames)
		case 5:
			x.Dst = r.addr(dstNames)
		case 6:
			x.Port = r.portTest()
		case 7:
			x.Command = r.str("command")
		case 8:
			x.Text = r.str("text")
		}
	}
}

func (r *reader) special() *config.Special {
	s := &config.Special{}
	m := r.openMap(specialFields)
	for {
		switch m.field() {
		case -1:
			return s
		case 0:
			s.Pos = r.pos()
		case 1:
			s.Command = r.str("command")
		case 2:
			s.Text = r.str("text")
		}
	}
}

func (r *reader) sockdConf() *config.SockdConf {
	c := &config.SockdConf{}
	m := r.openMap(sockdFields)
	for {
		switch m.field() {
		case -1:
			return c
		case 0:
			c.Source = r.str("source")
		case 1:
			c.Rules = readList(r, "rules", true, minRuleBytes, r.rule)
		case 2:
			c.NoIdentd = r.special()
		case 3:
			c.BadID = r.special()
		}
	}
}

func (r *reader) route() (x config.Route) {
	m := r.openMap(routeFields)
	for {
		switch m.field() {
		case -1:
			return x
		case 0:
			x.Pos = r.pos()
		case 1:
			x.If = r.ip("interface")
		case 2:
			x.Dst = r.addr(dstNames)
		case 3:
			x.Text = r.str("text")
		}
	}
}

func (r *reader) routeConf() *config.RouteConf {
	c := &config.RouteConf{}
	m := r.openMap(routeConfFields)
	for {
		switch m.field() {
		case -1:
			return c
		case 0:
			c.Source = r.str("source")
		case 1:
			c.Routes = readList(r, "routes", true, minRouteBytes, r.route)
		}
	}
}

func (r *reader) server() (s config.Server) {
	m := r.openMap(serverFields)
	for {
		switch m.field() {
		case -1:
			return s
		case 0:
			s.Scheme = r.str("server scheme")
		case 1:
			s.Host = r.str("server host")
		case 2:
			s.Port = uint16(r.uint(65535, "server port"))
		case 3:
			s.URL = r.bool("server url")
		}
	}
}

func (r *reader) clientRule() (x config.ClientRule) {
	m := r.openMap(clientRuleFields)
	for {
		switch m.field() {
		case -1:
			return x
		case 0:
			x.Pos = r.pos()
		case 1:
			x.Action = config.ClientAction(r.uint(255, "action"))
		case 2:
			x.Servers = readList(r, "servers", false, minServerBytes, r.server)
		case 3:
			x.Users = r.strings("users")
		case 4:
			x.Dst = r.addr(dstNames)
		case 5:
			x.Port = r.portTest()
		case 6:
			x.Command = r.str("command")
		case 7:
			x.Text = r.str("text")
		}
	}
}

func (r *reader) socksConf() *config.SocksConf {
	c := &config.SocksConf{}
	m := r.openMap(socksFields)
	for {
		switch m.field() {
		case -1:
			return c
		case 0:
			c.Source = r.str("source")
		case 1:
			c.Rules = readList(r, "rules", true, minClientRuleBytes, r.clientRule)
		}
	}
}
