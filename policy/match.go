package policy

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strings"

	"github.com/sockd/sockd/config"
)

// addr128 is an address as two 64-bit halves plus its family, so that one
// masked comparison serves IPv4 and IPv6 and never allocates.
type addr128 struct {
	hi, lo uint64
	fam    uint8 // 0 invalid (no address), 4 or 6
}

func toAddr128(a netip.Addr) addr128 {
	if !a.IsValid() {
		return addr128{}
	}
	return raw128(a.Unmap())
}

// raw128 converts without unmapping: an IPv4-mapped address stays IPv6.
func raw128(a netip.Addr) addr128 {
	b := a.As16()
	fam := uint8(6)
	if a.Is4() {
		fam = 4
	}
	return addr128{hi: be64(b[:8]), lo: be64(b[8:]), fam: fam}
}

func be64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// addrKind mirrors config.AddrKind after compilation: an all-zero mask and
// the pattern ALL become kindAny because they match exactly what an omitted
// pair matches.
type addrKind uint8

const (
	kindAny addrKind = iota
	kindMask
	kindPattern
)

// addrMatcher is a compiled config.Addr. It is kept small, and the rare
// pattern behind a pointer, because a large configuration holds two per
// line: 100,000 lines are under 10 MB of matchers at this size.
type addrMatcher struct {
	// kindMask: the configured address already masked, and the mask, both
	// in the 128-bit form of their family (an IPv4 mask keeps the ::ffff
	// prefix bits set, which every IPv4 address shares), and the family.
	net, mask mask128
	// kindPattern
	pat  *namePattern
	plen int16 // prefix length when the mask is contiguous, else -1
	fam  uint8 // 4 or 6
	kind addrKind
}

// mask128 is a 128-bit mask or masked address: an addr128 without the
// family.
type mask128 struct{ hi, lo uint64 }

// namePattern is a compiled host-name pattern other than ALL.
type namePattern struct {
	name string // lower case, no trailing dot; for a zone, without its leading dot
	zone bool
}

func compileAddr(a config.Addr) (addrMatcher, error) {
	switch a.Kind {
	case config.AddrAny:
		return addrMatcher{kind: kindAny}, nil
	case config.AddrPattern:
		if a.Pattern == "ALL" {
			return addrMatcher{kind: kindAny}, nil
		}
		p := a.Pattern
		if p == "" {
			return addrMatcher{}, fmt.Errorf("empty host name pattern")
		}
		zone := strings.HasPrefix(p, ".")
		if zone {
			p = p[1:]
		}
		return addrMatcher{kind: kindPattern, pat: &namePattern{name: normName(p), zone: zone}}, nil
	case config.AddrMask:
		return compileMask(a.IP, a.Mask)
	}
	return addrMatcher{}, fmt.Errorf("unknown address kind %d", a.Kind)
}

func compileMask(ip, mask netip.Addr) (addrMatcher, error) {
	if !ip.IsValid() || !mask.IsValid() {
		return addrMatcher{}, fmt.Errorf("address/mask pair %v %v is not valid", ip, mask)
	}
	if ip.Is4In6() && mask.Is6() {
		m := mask.As16()
		if be64(m[:8]) == ^uint64(0) && m[8] == 0xff && m[9] == 0xff && m[10] == 0xff && m[11] == 0xff {
			mask = netip.AddrFrom4([4]byte(m[12:]))
			ip = ip.Unmap()
		}
	}
	if ip.Is4() != mask.Is4() {
		return addrMatcher{}, fmt.Errorf("address %v and mask %v are of different families", ip, mask)
	}
	n, contiguous := prefixLen(mask)
	if contiguous && n == 0 {
		return addrMatcher{kind: kindAny}, nil
	}
	plen := int16(-1)
	if contiguous {
		plen = int16(n)
	}
	m := raw128(mask)
	if ip.Is4() {
		// Keep the ::ffff:0:0/96 bits in the mask: every IPv4 address in
		// 128-bit form has them, so they constrain nothing within the
		// family, and the family check is done separately anyway.
		m.hi = ^uint64(0)
		m.lo |= 0xffffffff_00000000
	}
	// A configured IPv4-mapped address whose mask does not cover the whole
	// ::ffff:0:0/96 prefix stays an IPv6 rule; since requests are unmapped,
	// it can only match genuine IPv6 addresses.
	a := raw128(ip)
	a.hi &= m.hi
	a.lo &= m.lo
	return addrMatcher{kind: kindMask, net: mask128{a.hi, a.lo}, mask: mask128{m.hi, m.lo}, plen: plen, fam: a.fam}, nil
}

// normName lower-cases a host name and drops one trailing dot (the root,
// which Go's resolver appends to reverse names).
func normName(s string) string {
	s = strings.TrimSuffix(s, ".")
	return strings.ToLower(s)
}

// matchIP reports whether an address/mask matcher accepts a.
func (m *addrMatcher) matchIP(a addr128) bool {
	return a.fam == m.fam && a.hi&m.mask.hi == m.net.hi && a.lo&m.mask.lo == m.net.lo
}

// matches reports whether the pattern accepts name, without allocating:
// the comparison folds case as it goes.
func (p *namePattern) matches(name string) bool {
	if len(name) > 0 && name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	if name == "" {
		return false
	}
	if !p.zone {
		return strings.EqualFold(name, p.name)
	}
	if p.name == "" { // the root zone
		return true
	}
	if len(name) == len(p.name) {
		return strings.EqualFold(name, p.name)
	}
	// The bounds check 4.3 lacked: a name shorter than ".zone" is not in it.
	if len(name) < len(p.name)+1 {
		return false
	}
	tail := name[len(name)-len(p.name)-1:]
	return tail[0] == '.' && strings.EqualFold(tail[1:], p.name)
}

func (p *namePattern) matchesAny(names []string) bool {
	for _, n := range names {
		if p.matches(n) {
			return true
		}
	}
	return false
}

// userMatcher is a compiled *=userlist.
type userMatcher struct {
	any   bool
	small []string            // short lists: a linear scan beats hashing
	set   map[string]struct{} // long lists (large user files)
}

const smallUserList = 8

func newUserMatcher(ids []string) userMatcher {
	if len(ids) <= smallUserList {
		return userMatcher{small: ids}
	}
	set := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	return userMatcher{set: set}
}

// match reports whether the list names user; a nil matcher is a line
// without a *=userlist, which applies to every user.
func (u *userMatcher) match(user string) bool {
	if u == nil || u.any {
		return true
	}
	if u.set != nil {
		_, ok := u.set[user]
		return ok
	}
	for _, id := range u.small {
		if id == user {
			return true
		}
	}
	return false
}

// rule is a compiled config.Rule.
type rule struct {
	src, dst addrMatcher
	users    *userMatcher // nil: every user
	portOp   config.PortOp
	port     uint16
	permit   bool
	ident    config.Ident
}

// field names the condition of a line that failed, in the order they are
// tested (the order of the line's fields).
type field uint8

const (
	fieldNone field = iota // all matched
	fieldSource
	fieldDestination
	fieldUser
	fieldPort
)

func (f field) String() string {
	switch f {
	case fieldSource:
		return "source"
	case fieldDestination:
		return "destination"
	case fieldUser:
		return "user"
	case fieldPort:
		return "port"
	}
	return ""
}

// evalState is one request during one decision: its addresses in matcher
// form and the reverse names, fetched at most once and only when a pattern
// needs them.
type evalState struct {
	req                *Request
	src, dst           addr128
	srcNames, dstNames lazyNames
}

// lazyNames is a request's names for one end, asked for the first time a
// rule needs them (a reverse lookup may be behind them) and kept.
type lazyNames struct {
	names   []string
	fetched bool
}

// get returns the names, calling fetch (which may be nil: no names) the
// first time.
func (l *lazyNames) get(fetch func() []string) []string {
	if !l.fetched {
		l.fetched = true
		if fetch != nil {
			l.names = fetch()
		}
	}
	return l.names
}

func newEvalState(req *Request) evalState {
	return evalState{req: req, src: toAddr128(req.SrcIP), dst: toAddr128(req.DstIP)}
}

func (st *evalState) sourceNames() []string { return st.srcNames.get(st.req.SrcNames) }

func (st *evalState) destinationNames() []string { return st.dstNames.get(st.req.DstNames) }

func (st *evalState) matchSource(m *addrMatcher) bool {
	switch m.kind {
	case kindAny:
		return true
	case kindMask:
		return m.matchIP(st.src)
	}
	return m.pat.matchesAny(st.sourceNames())
}

func (st *evalState) matchDestination(m *addrMatcher) bool {
	switch m.kind {
	case kindAny:
		return true
	case kindMask:
		return m.matchIP(st.dst)
	}
	if st.req.DstName != "" && m.pat.matches(st.req.DstName) {
		return true
	}
	return m.pat.matchesAny(st.destinationNames())
}

// match tests one line and returns the first condition that failed, or
// fieldNone when the line matches.
func (st *evalState) match(r *rule) field {
	if !st.matchSource(&r.src) {
		return fieldSource
	}
	if !st.matchDestination(&r.dst) {
		return fieldDestination
	}
	if !r.users.match(st.req.User) {
		return fieldUser
	}
	if !r.portOp.Match(st.req.DstPort, r.port) {
		return fieldPort
	}
	return fieldNone
}

// lastField is the last condition r really tests, in the order they are
// tested: a line whose first failure is there failed only on it.
func lastField(r *rule) field {
	switch {
	case r.portOp != config.OpNone:
		return fieldPort
	case r.users != nil:
		return fieldUser
	case r.dst.kind != kindAny:
		return fieldDestination
	}
	return fieldSource
}

// prefixMask returns the 128-bit mask of a contiguous prefix of plen bits
// in family fam (IPv4 prefixes count from bit 96).
func prefixMask(fam uint8, plen int) addr128 {
	if fam == 4 {
		plen += 96
	}
	var m addr128
	m.fam = fam
	switch {
	case plen >= 128:
		m.hi, m.lo = ^uint64(0), ^uint64(0)
	case plen > 64:
		m.hi = ^uint64(0)
		m.lo = ^uint64(0) << (128 - plen)
	case plen > 0:
		m.hi = ^uint64(0) << (64 - plen)
	}
	return m
}

// prefixLen returns the length of a contiguous mask, and false for a
// mask whose ones do not all lead.
func prefixLen(mask netip.Addr) (int, bool) {
	m := raw128(mask)
	// The mask's own bits, leading: an IPv4 mask is the low 32 bits of lo.
	if mask.Is4() {
		m.hi, m.lo = m.lo<<32, 0
	}
	ones := bits.OnesCount64(m.hi) + bits.OnesCount64(m.lo)
	// The mask is contiguous when its ones all lead: then there are as
	// many leading ones as ones.
	lead := bits.LeadingZeros64(^m.hi)
	if lead == 64 {
		lead += bits.LeadingZeros64(^m.lo)
	}
	if lead != ones {
		return 0, false
	}
	return ones, true
}
