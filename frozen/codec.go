package frozen

import (
	"fmt"
	"net/netip"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/hugepage"
)

// Every struct is written as a MessagePack array of all its fields, in Go
// field order, as msgpack/v5 writes a struct with UseArrayEncodedStructs:
// no field names and no omitted fields, so a reader finds each field by
// its position and a value has exactly one encoding. A nil slice or
// pointer is nil; an empty slice is an empty array. The field counts below
// are checked against the config types by reflection in the tests, so a
// field added to config without teaching this file fails them instead of
// being silently dropped from frozen files.
const (
	posFieldCount        = 2 // line, column
	addrFieldCount       = 5 // kind, ip, mask, cidr, pattern
	portFieldCount       = 3 // operator, port, service
	ruleFieldCount       = 9 // pos, action, ident, users, src, dst, port, command, text
	specialFieldCount    = 3 // pos, command, text
	sockdFieldCount      = 4 // source, rules, #NO_IDENTD:, #BAD_ID:
	routeFieldCount      = 4 // pos, interface, destination, text
	routeConfFieldCount  = 2 // source, routes
	serverFieldCount     = 4 // scheme, host, port, url
	clientRuleFieldCount = 8 // pos, action, servers, users, dst, port, command, text
	socksFieldCount      = 2 // source, rules
	metaFieldCount       = 3 // source, source_sha256, compiler
	bodyFieldCount       = 4 // meta, sockd, route, socks
)

// Lower bounds of the encoded size of the structs that come in arrays: the
// encoding of their zero value. An array header claiming more elements
// than the bytes left could hold is refused before anything is allocated,
// and a valid one is allocated exactly. TestMinEncodedSizes checks them.
const (
	minRuleBytes       = 29
	minRouteBytes      = 15
	minClientRuleBytes = 21
	minServerBytes     = 5
	minUserBytes       = 1
)

// body is the msgpack body of every frozen file: the metadata and exactly
// one payload, the one matching the header's kind.
type body struct {
	Meta  Meta              `msgpack:"meta"`
	Sockd *config.SockdConf `msgpack:"sockd"`
	Route *config.RouteConf `msgpack:"route"`
	Socks *config.SocksConf `msgpack:"socks"`
}

func (w *writer) encodeBody(b *body) {
	w.arrayLen(bodyFieldCount)
	w.arrayLen(metaFieldCount)
	w.str(b.Meta.Source)
	w.str(b.Meta.SourceSHA256)
	w.str(b.Meta.Compiler)
	if b.Sockd != nil {
		w.sockdConf(b.Sockd)
	} else {
		w.nil()
	}
	if b.Route != nil {
		w.routeConf(b.Route)
	} else {
		w.nil()
	}
	if b.Socks != nil {
		w.socksConf(b.Socks)
	} else {
		w.nil()
	}
}

func (w *writer) pos(p config.Pos) {
	w.arrayLen(posFieldCount)
	w.int(int64(p.Line))
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
	w.arrayLen(addrFieldCount)
	w.uint(uint64(a.Kind))
	w.ip(a.IP)
	w.ip(a.Mask)
	w.bool(a.CIDR)
	w.str(a.Pattern)
}

func (w *writer) portTest(p *config.PortTest) {
	w.arrayLen(portFieldCount)
	w.uint(uint64(p.Op))
	w.uint(uint64(p.Port))
	w.str(p.Service)
}

// writeList writes a slice as an array of its entries, each written by
// each, or nil for a nil slice.
func writeList[T any](w *writer, list []T, each func(*writer, *T)) {
	if list == nil {
		w.nil()
		return
	}
	w.arrayLen(len(list))
	for i := range list {
		each(w, &list[i])
	}
}

func (w *writer) strings(list []string) {
	writeList(w, list, func(w *writer, s *string) { w.str(*s) })
}

func (w *writer) rule(r *config.Rule) {
	w.arrayLen(ruleFieldCount)
	w.pos(r.Pos)
	w.uint(uint64(r.Action))
	w.uint(uint64(r.Ident))
	w.strings(r.Users)
	w.addr(&r.Src)
	w.addr(&r.Dst)
	w.portTest(&r.Port)
	w.str(r.Command)
	w.str(r.Text)
}

func (w *writer) special(s *config.Special) {
	if s == nil {
		w.nil()
		return
	}
	w.arrayLen(specialFieldCount)
	w.pos(s.Pos)
	w.str(s.Command)
	w.str(s.Text)
}

func (w *writer) sockdConf(c *config.SockdConf) {
	w.arrayLen(sockdFieldCount)
	w.str(c.Source)
	writeList(w, c.Rules, (*writer).rule)
	w.special(c.NoIdentd)
	w.special(c.BadID)
}

func (w *writer) routeConf(c *config.RouteConf) {
	w.arrayLen(routeConfFieldCount)
	w.str(c.Source)
	writeList(w, c.Routes, (*writer).route)
}

func (w *writer) route(rt *config.Route) {
	w.arrayLen(routeFieldCount)
	w.pos(rt.Pos)
	w.ip(rt.If)
	w.addr(&rt.Dst)
	w.str(rt.Text)
}

func (w *writer) server(s *config.Server) {
	w.arrayLen(serverFieldCount)
	w.str(s.Scheme)
	w.str(s.Host)
	w.uint(uint64(s.Port))
	w.bool(s.URL)
}

func (w *writer) clientRule(r *config.ClientRule) {
	w.arrayLen(clientRuleFieldCount)
	w.pos(r.Pos)
	w.uint(uint64(r.Action))
	writeList(w, r.Servers, (*writer).server)
	w.strings(r.Users)
	w.addr(&r.Dst)
	w.portTest(&r.Port)
	w.str(r.Command)
	w.str(r.Text)
}

func (w *writer) socksConf(c *config.SocksConf) {
	w.arrayLen(socksFieldCount)
	w.str(c.Source)
	writeList(w, c.Rules, (*writer).clientRule)
}

// Decoding. Each function reads one value; on error the reader's sticky
// error is set and the value is incomplete, which is fine because the
// caller discards everything when r.err is set. Entries of the large lists
// are validated as soon as they are read, while they are still in the
// cache, rather than in a second walk over the whole configuration.

func (r *reader) body() *body {
	b := &body{}
	if !r.head(&b.Meta) {
		return b
	}
	if !r.isNil() {
		b.Sockd = r.sockdConf()
	}
	if !r.isNil() {
		b.Route = r.routeConf()
	}
	if !r.isNil() {
		b.Socks = r.socksConf()
	}
	return b
}

// head reads the start of a body up to its payloads: the metadata.
func (r *reader) head(m *Meta) bool {
	if !r.record(bodyFieldCount, "body") || !r.record(metaFieldCount, "meta") {
		return false
	}
	m.Source = r.str("meta source")
	m.SourceSHA256 = r.str("meta source_sha256")
	m.Compiler = r.str("meta compiler")
	return true
}

func (r *reader) pos(p *config.Pos) {
	if r.record(posFieldCount, "position") {
		p.Line = r.int("line")
		p.Col = r.int("column")
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
		return netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
	case len(b) == 16:
		var a16 [16]byte
		copy(a16[:], b)
		return netip.AddrFrom16(a16)
	case len(b) > 16:
		var a netip.Addr
		if err := a.UnmarshalBinary([]byte(b)); err != nil {
			r.failf(at, "%s: %v", what, err)
		}
		return a
	}
	r.failf(at, "%s: an IP address cannot be %d bytes long", what, len(b))
	return netip.Addr{}
}

// addrNames names the parts of one address field in messages; they are
// built once because decoding must not allocate per field.
type addrNames struct{ addr, kind, ip, mask, cidr, pattern string }

func newAddrNames(what string) *addrNames {
	return &addrNames{what, what + " kind", what + " ip", what + " mask", what + " cidr", what + " pattern"}
}

var (
	srcNames = newAddrNames("source")
	dstNames = newAddrNames("destination")
)

func (r *reader) addr(a *config.Addr, what *addrNames) {
	// Most addresses of a large file are an IPv4 address and mask: read
	// those fifteen bytes in one step. Anything else takes the general
	// path, which reads the same bytes the same way.
	if t, o := r.text, r.off; o+15 <= len(t) && t[o] == fixArrayLow+addrFieldCount && t[o+1] <= 0x7f &&
		t[o+2] == codeBin8 && t[o+3] == 4 && t[o+8] == codeBin8 && t[o+9] == 4 &&
		(t[o+14] == codeFalse || t[o+14] == codeTrue) {
		a.Kind = config.AddrKind(t[o+1])
		a.IP = netip.AddrFrom4([4]byte{t[o+4], t[o+5], t[o+6], t[o+7]})
		a.Mask = netip.AddrFrom4([4]byte{t[o+10], t[o+11], t[o+12], t[o+13]})
		a.CIDR = t[o+14] == codeTrue
		r.off = o + 15
		a.Pattern = r.str(what.pattern)
		return
	}
	if !r.record(addrFieldCount, what.addr) {
		return
	}
	a.Kind = config.AddrKind(r.uint(255, what.kind))
	a.IP = r.ip(what.ip)
	a.Mask = r.ip(what.mask)
	a.CIDR = r.bool(what.cidr)
	a.Pattern = r.str(what.pattern)
}

func (r *reader) portTest(p *config.PortTest) {
	if r.record(portFieldCount, "port test") {
		p.Op = config.PortOp(r.uint(255, "port operator"))
		p.Port = uint16(r.uint(65535, "port"))
		p.Service = r.str("port service")
	}
}

// listLen reads the header of an array of entries of at least minBytes
// bytes each; isNil reports a msgpack nil (a nil slice). A count that the
// bytes left cannot hold is refused, so the caller can allocate exactly n
// entries without a crafted header forcing a huge allocation.
func (r *reader) listLen(what string, minBytes int) (n int, isNil bool) {
	at := r.off
	n, isNil = r.arrayLen(what, true)
	if r.err == nil && n > r.left()/minBytes {
		r.failf(at, "%s: %d entries cannot fit in the %d bytes left", what, n, r.left())
		return 0, false
	}
	return n, isNil
}

// strings reads a user list. The lists of a whole file share backing
// arrays carved from r.strs, so that a file with ten thousand user lists
// makes a handful of allocations instead of ten thousand; each list is cut
// to its own capacity, so appending to one cannot overwrite another.
func (r *reader) strings(what string) []string {
	n, isNil := r.listLen(what, minUserBytes)
	switch {
	case isNil || r.err != nil:
		return nil
	case n == 0:
		return []string{} // empty, not nil: a list that names nobody
	}
	if n > len(r.strs) {
		r.strs = make([]string, max(n, stringsChunk))
	}
	list := r.strs[:n:n]
	r.strs = r.strs[n:]
	for i := range list {
		list[i] = r.str(what)
	}
	return list
}

// stringsChunk is how many strings one shared backing array of user lists
// holds.
const stringsChunk = 4096

func (r *reader) rule(x *config.Rule) {
	if !r.record(ruleFieldCount, "rule") {
		return
	}
	r.pos(&x.Pos)
	x.Action = config.Action(r.uint(255, "action"))
	x.Ident = config.Ident(r.uint(255, "ident"))
	x.Users = r.strings("users")
	r.addr(&x.Src, srcNames)
	r.addr(&x.Dst, dstNames)
	r.portTest(&x.Port)
	x.Command = r.str("command")
	x.Text = r.str("text")
}

// rules decodes and validates rules, the entries from index first of a
// rules array, stopping at the first error.
func (r *reader) rules(rules []config.Rule, first int) {
	for i := range rules {
		x := &rules[i]
		r.rule(x)
		if r.err != nil {
			return
		}
		if err := validateRule(x); err != nil {
			r.fail(fmt.Errorf("%s: %w", where("rule", first+i, x.Pos), err))
			return
		}
	}
}

// parallelRulesMin is the number of rules from which rulesInHalves is
// worth its goroutine and its extra scan. Tests change it to compare both
// ways of decoding.
var parallelRulesMin = 8192

// rulesInHalves decodes rules, whose array r is at, in two halves side by
// side: another goroutine finds where the second half starts by skipping
// over the first (much cheaper than decoding it) and decodes it while this
// one decodes the first. Decoding is the largest part of a large file's
// load, and most of it is the page faults of the fresh rule array, which
// two cores take in half the time. It reports false, with r unchanged,
// when anything fails, so that the caller decodes the rules in one pass
// and reports the first error in file order exactly as that pass finds it.
func (r *reader) rulesInHalves(rules []config.Rule) bool {
	half := len(rules) / 2
	type result struct {
		r2  *reader
		mid int
	}
	second := make(chan result, 1)
	go func() {
		mid, ok := skipValues(r.text, r.off, half)
		if !ok {
			second <- result{}
			return
		}
		r2 := &reader{text: r.text, off: mid}
		r2.rules(rules[half:], half)
		second <- result{r2, mid}
	}()
	first := &reader{text: r.text, off: r.off}
	first.rules(rules[:half], 0)
	res := <-second
	// first.off != res.mid cannot happen when both succeed: they walk the
	// same values.
	if first.err != nil || res.r2 == nil || res.r2.err != nil || first.off != res.mid {
		clear(rules)
		return false
	}
	r.off = res.r2.off
	return true
}

// skipValues returns the offset just past count MessagePack values of the
// types a body uses, starting at off, without decoding or checking them;
// ok is false when the data ends first or holds another type.
func skipValues(text string, off, count int) (end int, ok bool) {
	for ; count > 0; count-- {
		if off >= len(text) {
			return off, false
		}
		c := text[off]
		size := 0 // bytes after the type code
		switch {
		case c <= 0x7f, c >= negFixLow, c == codeNil, c == codeFalse, c == codeTrue:
		case c >= fixStrLow && c <= fixStrLow+31:
			size = int(c - fixStrLow)
		case c >= fixArrayLow && c <= fixArrayLow+15:
			count += int(c - fixArrayLow)
		case c >= codeUint8 && c <= codeUint64:
			size = 1 << (c - codeUint8)
		case c >= codeInt8 && c <= codeInt64:
			size = 1 << (c - codeInt8)
		case c == codeStr8 || c == codeBin8 || c == codeStr16 || c == codeBin16 || c == codeStr32 || c == codeBin32 ||
			c == codeArray16 || c == codeArray32:
			width := 1
			switch c {
			case codeStr16, codeBin16, codeArray16:
				width = 2
			case codeStr32, codeBin32, codeArray32:
				width = 4
			}
			if off+1+width > len(text) {
				return off, false
			}
			n := 0
			for i := off + 1; i <= off+width; i++ {
				n = n<<8 | int(text[i])
			}
			if n > len(text) {
				return off, false // more than the data could hold
			}
			if c == codeArray16 || c == codeArray32 {
				off += width
				count += n
			} else {
				size = width + n
			}
		default:
			return off, false
		}
		off += 1 + size
	}
	return off, off <= len(text)
}

func (r *reader) special() *config.Special {
	if r.isNil() {
		return nil
	}
	s := &config.Special{}
	if r.record(specialFieldCount, "special line") {
		r.pos(&s.Pos)
		s.Command = r.str("command")
		s.Text = r.str("text")
	}
	return s
}

// payload reads the start of a payload, which every kind shares: the
// header of its fields and the name of its source.
func (r *reader) payload(fields int, what string) (source string, ok bool) {
	if !r.record(fields, what) {
		return "", false
	}
	return r.str("source"), true
}

func (r *reader) sockdConf() *config.SockdConf {
	c := &config.SockdConf{}
	var ok bool
	if c.Source, ok = r.payload(sockdFieldCount, "sockd.conf payload"); !ok {
		return c
	}
	if n, isNil := r.listLen("rules", minRuleBytes); !isNil && r.err == nil {
		c.Rules = make([]config.Rule, n)
		hugepage.Advise(c.Rules) // fewer page faults for a large file
		if n < parallelRulesMin || !r.rulesInHalves(c.Rules) {
			r.rules(c.Rules, 0)
		}
	}
	c.NoIdentd = r.special()
	c.BadID = r.special()
	return c
}

func (r *reader) routeConf() *config.RouteConf {
	c := &config.RouteConf{}
	var ok bool
	if c.Source, ok = r.payload(routeConfFieldCount, "sockd.route payload"); ok {
		c.Routes = readList(r, "routes", minRouteBytes, (*reader).route)
	}
	return c
}

// readList reads an array of entries of at least minBytes bytes each,
// each read by each, into a slice of exactly its length; a nil array, or
// an error reading the header, gives a nil slice. It stops at the first
// error, which the caller finds in r.err.
func readList[T any](r *reader, what string, minBytes int, each func(*reader, *T)) []T {
	n, isNil := r.listLen(what, minBytes)
	if isNil || r.err != nil {
		return nil
	}
	list := make([]T, n)
	for i := 0; i < n && r.err == nil; i++ {
		each(r, &list[i])
	}
	return list
}

func (r *reader) route(x *config.Route) {
	if r.record(routeFieldCount, "route") {
		r.pos(&x.Pos)
		x.If = r.ip("interface")
		r.addr(&x.Dst, dstNames)
		x.Text = r.str("text")
	}
}

func (r *reader) server(s *config.Server) {
	if r.record(serverFieldCount, "server") {
		s.Scheme = r.str("server scheme")
		s.Host = r.str("server host")
		s.Port = uint16(r.uint(65535, "server port"))
		s.URL = r.bool("server url")
	}
}

func (r *reader) clientRule(x *config.ClientRule) {
	if !r.record(clientRuleFieldCount, "client rule") {
		return
	}
	r.pos(&x.Pos)
	x.Action = config.ClientAction(r.uint(255, "action"))
	x.Servers = readList(r, "servers", minServerBytes, (*reader).server)
	x.Users = r.strings("users")
	r.addr(&x.Dst, dstNames)
	r.portTest(&x.Port)
	x.Command = r.str("command")
	x.Text = r.str("text")
}

func (r *reader) socksConf() *config.SocksConf {
	c := &config.SocksConf{}
	var ok bool
	if c.Source, ok = r.payload(socksFieldCount, "socks.conf payload"); ok {
		c.Rules = readList(r, "rules", minClientRuleBytes, (*reader).clientRule)
	}
	return c
}
