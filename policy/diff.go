package policy

import (
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Diff computes, exactly, the requests that two policies decide
// differently: those whose deciding lines have different actions (permit
// or deny, the identd mode of a permit line, the shell command, and for
// lines that ask identd the #NO_IDENTD: and #BAD_ID: commands).
//
// # The model
//
// A request is a point of source × destination × user × port. An address
// side is its family (the destination may have none: a name-only request),
// its 128 address bits, and which of the name patterns named in either file
// its names match: every pattern is a boolean variable. A set of requests
// is a union of cubes; a cube constrains each address bit, each pattern
// variable and each family to a value or leaves it free (ternary, as
// non-contiguous 4.3 masks need), the port to one interval, and the user to
// a set of classes: ids that appear in exactly the same user lists form one
// class, and every id no list names is the class "other".
//
// For every pair (old line i, new line j) whose actions differ, the
// requests decided by both is match(i) ∩ match(j) minus every earlier line
// of either file: computed by cube subtraction. The union over all pairs,
// the implicit final denies included, is exactly the set of differing
// requests. Pattern variables can be constrained in ways no set of host
// names can meet (a name matching two different exact names); such cubes
// hold no real request and are dropped when no example can be built.
//
// Every region's example is decided by [Policy.Decide] under both policies
// before it is reported: a region whose example does not differ is an
// internal error, never output.
func Diff(oldP, newP *Policy) (*DiffResult, error) {
	d := newDiffer(oldP, newP)
	return d.run()
}

// DiffResult is the outcome of Diff: the regions grouped by line pair, in
// the order of the old file's lines, then the new file's.
type DiffResult struct {
	Pairs []DiffPair
	d     *differ
}

// Regions is the number of regions over all pairs.
func (r *DiffResult) Regions() int {
	n := 0
	for _, p := range r.Pairs {
		n += len(p.Regions)
	}
	return n
}

// DiffPair is the requests decided by one old line and one new line whose
// actions differ.
type DiffPair struct {
	Old, New DiffSide
	Regions  []DiffRegion
}

// DiffSide names a deciding line: Index -1 and Line 0 for the implicit
// final deny.
type DiffSide struct {
	Index  int
	Line   int
	Text   string
	Action string // permit or deny, the identd mode, the command
}

// DiffRegion is one cube of differing requests, described field by field,
// with an example request.
type DiffRegion struct {
	Src   string
	Dst   string
	Ports [2]int
	Users string
	// ExceptOld and ExceptNew are the earlier lines (line numbers) that
	// decide part of the cube first: the region is the cube without the
	// requests they match.
	ExceptOld, ExceptNew []int
	Example              DiffExample
	c                    cube
	excl                 []*cube
}

// DiffExample is a concrete request inside a region, in the terms of
// `sockd simulate`'s flags.
type DiffExample struct {
	From      string
	FromNames []string
	To        string // an address, or a name when the request has no address
	ToNames   []string
	Port      int
	User      string
	// OldLine and NewLine are the lines Decide chose (0 for the default).
	OldLine, NewLine int
}

// Args returns the example as simulate flags.
func (e DiffExample) Args() []string {
	a := []string{"--from", e.From}
	for _, n := range e.FromNames {
		a = append(a, "--from-name", n)
	}
	a = append(a, "--to", e.To)
	for _, n := range e.ToNames {
		a = append(a, "--to-name", n)
	}
	a = append(a, "--port", strconv.Itoa(e.Port))
	if e.User != "" {
		a = append(a, "--user", e.User)
	}
	return a
}

// Request builds the policy request the example stands for, the way
// simulate builds it from the same flags (identd agrees with the user).
func (e DiffExample) Request() *Request {
	req := &Request{Command: CmdConnect, SrcIP: netip.MustParseAddr(e.From).Unmap(),
		DstPort: uint16(e.Port), User: e.User}
	if ip, err := netip.ParseAddr(e.To); err == nil {
		req.DstIP = ip.Unmap()
	} else {
		req.DstName = e.To
	}
	req.GivenNames(e.FromNames, e.ToNames)
	user := e.User
	req.Ident = func() (string, error) { return user, nil }
	return req
}

// Address families of a side, as a bit set.
const (
	famNone uint8 = 1 << iota // a destination known only by name
	fam4
	fam6
)

// v4Prefix is the ::ffff:0:0/96 part every IPv4 address has in 128-bit
// form; a cube of IPv4 addresses always fixes it.
var v4Prefix = mask128{^uint64(0), 0xffffffff_00000000}
var v4PrefixVal = mask128{0, 0x0000ffff_00000000}

type addrSet struct {
	fams      uint8
	val, care mask128
	pos, neg  []int32 // pattern variables that must hold / must not
}

type userSet struct {
	neg bool    // every class except cls
	cls []int32 // sorted class ids
}

type cube struct {
	src, dst addrSet
	users    userSet
	lo, hi   int32
}

// addrNorm fixes the IPv4 prefix of a set holding only IPv4 addresses; it
// reports false when that contradicts the set's bits.
func (a *addrSet) norm() bool {
	if a.fams == fam4 {
		if (a.val.hi^v4PrefixVal.hi)&a.care.hi&v4Prefix.hi != 0 ||
			(a.val.lo^v4PrefixVal.lo)&a.care.lo&v4Prefix.lo != 0 {
			return false
		}
		a.care.hi |= v4Prefix.hi
		a.care.lo |= v4Prefix.lo
		a.val.hi |= v4PrefixVal.hi
		a.val.lo |= v4PrefixVal.lo
	}
	return true
}

func addrMeets(a, b *addrSet) bool {
	if a.fams&b.fams == 0 {
		return false
	}
	if (a.val.hi^b.val.hi)&a.care.hi&b.care.hi != 0 || (a.val.lo^b.val.lo)&a.care.lo&b.care.lo != 0 {
		return false
	}
	return !sortedMeet(a.pos, b.neg) && !sortedMeet(a.neg, b.pos)
}

func addrIntersect(a, b *addrSet) (addrSet, bool) {
	if !addrMeets(a, b) {
		return addrSet{}, false
	}
	r := addrSet{fams: a.fams & b.fams,
		val:  mask128{a.val.hi | b.val.hi, a.val.lo | b.val.lo},
		care: mask128{a.care.hi | b.care.hi, a.care.lo | b.care.lo},
		pos:  sortedUnion(a.pos, b.pos), neg: sortedUnion(a.neg, b.neg)}
	return r, r.norm()
}

// addrContains reports whether b ⊆ a.
func addrContains(a, b *addrSet) bool {
	if b.fams&^a.fams != 0 {
		return false
	}
	if a.care.hi&^b.care.hi != 0 || a.care.lo&^b.care.lo != 0 {
		return false
	}
	if (a.val.hi^b.val.hi)&a.care.hi != 0 || (a.val.lo^b.val.lo)&a.care.lo != 0 {
		return false
	}
	return sortedSubset(a.pos, b.pos) && sortedSubset(a.neg, b.neg)
}

// addrSubtract appends the pieces of a \ b (a and b meet) to out, and
// returns a ∩ b.
func addrSubtract(a, b *addrSet, out []addrSet) ([]addrSet, addrSet) {
	cur := *a
	if rest := cur.fams &^ b.fams; rest != 0 {
		// a has bits only when it has one family, which b then has too:
		// here a's bits are free.
		p := addrSet{fams: rest, pos: cur.pos, neg: cur.neg}
		if p.norm() {
			out = append(out, p)
		}
		cur.fams &= b.fams
		cur.norm()
	}
	for w := 0; w < 2; w++ {
		bc, cc, bv := b.care.hi, cur.care.hi, b.val.hi
		if w == 1 {
			bc, cc, bv = b.care.lo, cur.care.lo, b.val.lo
		}
		for free := bc &^ cc; free != 0; free &= free - 1 {
			bit := uint64(1) << bits.TrailingZeros64(free)
			p := cur
			if w == 0 {
				p.care.hi |= bit
				p.val.hi = p.val.hi&^bit | (^bv & bit)
				cur.care.hi |= bit
				cur.val.hi = cur.val.hi&^bit | (bv & bit)
			} else {
				p.care.lo |= bit
				p.val.lo = p.val.lo&^bit | (^bv & bit)
				cur.care.lo |= bit
				cur.val.lo = cur.val.lo&^bit | (bv & bit)
			}
			out = append(out, p)
		}
	}
	pos := func(s *addrSet) *[]int32 { return &s.pos }
	neg := func(s *addrSet) *[]int32 { return &s.neg }
	out = splitVars(out, &cur, b.pos, pos, neg) // b's variables that must hold
	out = splitVars(out, &cur, b.neg, neg, pos) // and those that must not
	return out, cur
}

// splitVars appends to out, for each variable of vars that cur does not
// yet have in its list *has, the piece of cur where the variable goes to
// the opposite list *opp instead; then cur has it. Subtracting a pattern
// variable's side from cur is this one step for both sides.
func splitVars(out []addrSet, cur *addrSet, vars []int32, has, opp func(*addrSet) *[]int32) []addrSet {
	for _, v := range vars {
		if _, in := slices.BinarySearch(*has(cur), v); in {
			continue
		}
		p := *cur
		*opp(&p) = sortedUnion(*opp(cur), []int32{v})
		out = append(out, p)
		*has(cur) = sortedUnion(*has(cur), []int32{v})
	}
	return out
}

func userMeets(a, b *userSet) bool {
	switch {
	case a.neg && b.neg:
		return true // class 0 (other) is never excluded
	case a.neg: // b must name a class a does not exclude
		return !sortedSubset(b.cls, a.cls)
	case b.neg:
		return !sortedSubset(a.cls, b.cls)
	}
	return sortedMeet(a.cls, b.cls)
}

func userIntersect(a, b *userSet) userSet {
	switch {
	case a.neg && b.neg:
		return userSet{neg: true, cls: sortedUnion(a.cls, b.cls)}
	case a.neg:
		return userSet{cls: sortedMinus(b.cls, a.cls)}
	case b.neg:
		return userSet{cls: sortedMinus(a.cls, b.cls)}
	}
	return userSet{cls: sortedInter(a.cls, b.cls)}
}

func userMinus(a, b *userSet) userSet {
	switch {
	case a.neg && b.neg:
		return userSet{cls: sortedMinus(b.cls, a.cls)}
	case a.neg:
		return userSet{neg: true, cls: sortedUnion(a.cls, b.cls)}
	case b.neg:
		return userSet{cls: sortedInter(a.cls, b.cls)}
	}
	return userSet{cls: sortedMinus(a.cls, b.cls)}
}

func (u *userSet) empty() bool { return !u.neg && len(u.cls) == 0 }

// userContains reports whether b ⊆ a.
func userContains(a, b *userSet) bool {
	m := userMinus(b, a)
	return m.empty()
}

func meets(a, b *cube) bool {
	return a.lo <= b.hi && b.lo <= a.hi && userMeets(&a.users, &b.users) &&
		addrMeets(&a.src, &b.src) && addrMeets(&a.dst, &b.dst)
}

func intersect(a, b *cube) (cube, bool) {
	if !meets(a, b) {
		return cube{}, false
	}
	c := cube{lo: max(a.lo, b.lo), hi: min(a.hi, b.hi)}
	var ok bool
	if c.src, ok = addrIntersect(&a.src, &b.src); !ok {
		return cube{}, false
	}
	if c.dst, ok = addrIntersect(&a.dst, &b.dst); !ok {
		return cube{}, false
	}
	c.users = userIntersect(&a.users, &b.users)
	return c, !c.users.empty()
}

// contains reports whether b ⊆ a.
func contains(a, b *cube) bool {
	return a.lo <= b.lo && b.hi <= a.hi && addrContains(&a.src, &b.src) &&
		addrContains(&a.dst, &b.dst) && userContains(&a.users, &b.users)
}

// subtract appends the pieces of a \ b to out.
func subtract(a, b *cube, out []cube) []cube {
	if !meets(a, b) {
		return append(out, *a)
	}
	if contains(b, a) {
		return out
	}
	cur := *a
	if cur.lo < b.lo {
		p := cur
		p.hi = b.lo - 1
		out = append(out, p)
		cur.lo = b.lo
	}
	if cur.hi > b.hi {
		p := cur
		p.lo = b.hi + 1
		out = append(out, p)
		cur.hi = b.hi
	}
	if rest := userMinus(&cur.users, &b.users); !rest.empty() {
		p := cur
		p.users = rest
		out = append(out, p)
		cur.users = userIntersect(&cur.users, &b.users)
	}
	var pieces []addrSet
	pieces, cur.src = addrSubtract(&cur.src, &b.src, pieces[:0])
	for _, s := range pieces {
		p := cur
		p.src = s
		out = append(out, p)
	}
	pieces, _ = addrSubtract(&cur.dst, &b.dst, pieces[:0])
	for _, s := range pieces {
		p := cur
		p.dst = s
		out = append(out, p)
	}
	return out
}

// Sorted int32 set helpers.

func sortedMeet(a, b []int32) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			return true
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return false
}

func sortedSubset(sub, super []int32) bool { // sub ⊆ super
	j := 0
	for _, v := range sub {
		for j < len(super) && super[j] < v {
			j++
		}
		if j == len(super) || super[j] != v {
			return false
		}
	}
	return true
}

func sortedUnion(a, b []int32) []int32 {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]int32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i] < b[j]:
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func sortedInter(a, b []int32) []int32 {
	var out []int32
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			out = append(out, a[i])
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return out
}

func sortedMinus(a, b []int32) []int32 {
	if len(b) == 0 {
		return a
	}
	var out []int32
	j := 0
	for _, v := range a {
		for j < len(b) && b[j] < v {
			j++
		}
		if j < len(b) && b[j] == v {
			continue
		}
		out = append(out, v)
	}
	return out
}

// differ holds what Diff builds once: the pattern variables, the user
// classes, and every line as cubes with its action.
type differ struct {
	pols      [2]*Policy
	patterns  []namePattern // variable id → pattern
	patIndex  map[namePattern]int32
	classes   [][]string // class id → its ids, sorted; class 0 is "other"
	userClass map[string]int32
	lines     [2][][]cube
	actions   [2][]int // action ids; the last entry is the implicit deny
	// same[s] maps a line's cubes (as text) to the lines of side s that
	// match exactly the same requests, in order: most pairs of a small
	// edit are settled by the unchanged copy of a line.
	same [2]map[string][]int
	keys [2][]string
	// byKey and wild index each side's lines by srcKey: lines whose
	// sources lie in one IPv4 /16, and the rest. Two lines with different
	// keys never meet, which spares most of the pairs of large files.
	byKey    [2]map[uint32][]int
	wild     [2][]int
	steps    int // witness calls for the current region
	actNames []string
}

func newDiffer(oldP, newP *Policy) *differ {
	d := &differ{pols: [2]*Policy{oldP, newP}, patIndex: map[namePattern]int32{}}
	d.buildClasses()
	acts := map[string]int{}
	for side, p := range d.pols {
		d.lines[side] = make([][]cube, len(p.rules)+1)
		d.actions[side] = make([]int, len(p.rules)+1)
		for i := range p.rules {
			d.lines[side][i] = d.ruleCubes(p, i)
			d.actions[side][i] = d.actionID(acts, p.actionName(i))
		}
		d.lines[side][len(p.rules)] = []cube{universe()}
		d.actions[side][len(p.rules)] = d.actionID(acts, p.actionName(-1))
		d.byKey[side] = map[uint32][]int{}
		for i, cs := range d.lines[side] {
			if len(cs) > 0 {
				if k, ok := srcKey(&cs[0]); ok {
					d.byKey[side][k] = append(d.byKey[side][k], i)
					continue
				}
			}
			d.wild[side] = append(d.wild[side], i)
		}
		d.same[side] = map[string][]int{}
		d.keys[side] = make([]string, len(d.lines[side]))
		for i, cs := range d.lines[side] {
			k := fmt.Sprint(cs)
			d.keys[side][i] = k
			d.same[side][k] = append(d.same[side][k], i)
		}
	}
	return d
}

func (d *differ) actionID(acts map[string]int, name string) int {
	id, ok := acts[name]
	if !ok {
		id = len(d.actNames)
		acts[name] = id
		d.actNames = append(d.actNames, name)
	}
	return id
}

// actionName describes what line i (-1: the implicit deny) does, in full:
// two lines with the same name act the same on every request.
func (p *Policy) actionName(i int) string {
	if i < 0 {
		return "deny"
	}
	r := &p.rules[i]
	cr := &p.conf.Rules[i]
	var b strings.Builder
	if !r.permit {
		b.WriteString("deny")
	} else {
		b.WriteString("permit")
		if m := p.effectiveIdent(r); m != IdentModeOff {
			fmt.Fprintf(&b, ", identd %s", m)
			if s := p.special(p.conf.NoIdentd); s != "" {
				fmt.Fprintf(&b, ", #NO_IDENTD: %q", s)
			}
			if s := p.special(p.conf.BadID); s != "" {
				fmt.Fprintf(&b, ", #BAD_ID: %q", s)
			}
		}
	}
	if cr.Command != "" {
		fmt.Fprintf(&b, ", command %q", cr.Command)
	}
	return b.String()
}

func universe() cube {
	return cube{src: addrSet{fams: fam4 | fam6}, dst: addrSet{fams: famNone | fam4 | fam6},
		users: userSet{neg: true}, lo: 0, hi: 65535}
}

// ruleIDs returns the ids a compiled user list names, sorted; nil for a
// line without a list.
func ruleIDs(r *rule) (ids []string, all bool) {
	if r.users == nil || r.users.any {
		return nil, true
	}
	if r.users.set != nil {
		for id := range r.users.set {
			ids = append(ids, id)
		}
	} else {
		ids = slices.Clone(r.users.small)
	}
	slices.Sort(ids)
	return slices.Compact(ids), false
}

// buildClasses groups user ids by the set of lists naming them.
func (d *differ) buildClasses() {
	listOf := map[string]int{} // joined ids → list number
	member := map[string][]int32{}
	nLists := 0
	for _, p := range d.pols {
		for i := range p.rules {
			ids, all := ruleIDs(&p.rules[i])
			if all {
				continue
			}
			key := strings.Join(ids, "\x00")
			if _, ok := listOf[key]; ok {
				continue
			}
			listOf[key] = nLists
			for _, id := range ids {
				member[id] = append(member[id], int32(nLists))
			}
			nLists++
		}
	}
	classOf := map[string]int32{}
	d.classes = [][]string{nil}
	ids := make([]string, 0, len(member))
	for id := range member {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	d.userClass = map[string]int32{}
	for _, id := range ids {
		var sig strings.Builder
		for _, l := range member[id] {
			sig.WriteString(strconv.Itoa(int(l)))
			sig.WriteByte(',')
		}
		c, ok := classOf[sig.String()]
		if !ok {
			c = int32(len(d.classes))
			classOf[sig.String()] = c
			d.classes = append(d.classes, nil)
		}
		d.classes[c] = append(d.classes[c], id)
		d.userClass[id] = c
	}
}

func (d *differ) patVar(p *namePattern) int32 {
	if v, ok := d.patIndex[*p]; ok {
		return v
	}
	v := int32(len(d.patterns))
	d.patterns = append(d.patterns, *p)
	d.patIndex[*p] = v
	return v
}

func (d *differ) addrCube(m *addrMatcher, all uint8) addrSet {
	switch m.kind {
	case kindMask:
		f := fam4
		if m.fam == 6 {
			f = fam6
		}
		a := addrSet{fams: f, val: m.net, care: m.mask}
		a.norm()
		return a
	case kindPattern:
		return addrSet{fams: all, pos: []int32{d.patVar(m.pat)}}
	}
	return addrSet{fams: all}
}

// ruleCubes is the set of requests line i matches.
func (d *differ) ruleCubes(p *Policy, i int) []cube {
	r := &p.rules[i]
	c := cube{src: d.addrCube(&r.src, fam4|fam6), dst: d.addrCube(&r.dst, famNone|fam4|fam6)}
	if ids, all := ruleIDs(r); all {
		c.users = userSet{neg: true}
	} else {
		for _, id := range ids {
			c.users.cls = append(c.users.cls, d.userClass[id])
		}
		slices.Sort(c.users.cls)
		c.users.cls = slices.Compact(c.users.cls)
		if len(c.users.cls) == 0 {
			return nil // an empty list matches nobody
		}
	}
	var out []cube
	for _, pr := range portRanges(r.portOp, r.port) {
		x := c
		x.lo, x.hi = int32(pr.lo), int32(pr.hi)
		out = append(out, x)
	}
	return out
}

func (d *differ) run() (*DiffResult, error) {
	res := &DiffResult{d: d}
	no, nn := len(d.lines[0]), len(d.lines[1])
	phantoms := []cube{
		{src: mappedBlock, dst: addrSet{fams: famNone | fam4 | fam6}, users: userSet{neg: true}, hi: 65535},
		{src: addrSet{fams: fam4 | fam6}, dst: mappedBlock, users: userSet{neg: true}, hi: 65535},
	}
	var subs []*cube
	var owners []lineRef
	for i := 0; i < no; i++ {
		ai := d.actions[0][i]
		var ki uint32
		var oki bool
		if len(d.lines[0][i]) > 0 {
			ki, oki = srcKey(&d.lines[0][i][0])
		}
		var err error
		d.each(1, ki, oki, nn, func(j int) bool {
			if d.actions[1][j] == ai {
				return true
			}
			var regions []DiffRegion
			for ci := range d.lines[0][i] {
			next:
				for cj := range d.lines[1][j] {
					base, ok := intersect(&d.lines[0][i][ci], &d.lines[1][j][cj])
					if !ok {
						continue
					}
					if d.coveredBySame(&base, i, j) {
						continue
					}
					subs, owners = subs[:0], owners[:0]
					kb, okb := srcKey(&base)
					covered := false
					for s, upto := range [2]int{i, j} {
						d.each(s, kb, okb, upto, func(k int) bool {
							for c := range d.lines[s][k] {
								r := &d.lines[s][k][c]
								if !meets(&base, r) {
									continue
								}
								if contains(r, &base) {
									covered = true
									return false
								}
								subs = append(subs, r)
								if n := len(owners); n == 0 || owners[n-1] != (lineRef{s, k}) {
									owners = append(owners, lineRef{s, k})
								}
							}
							return true
						})
						if covered {
							break
						}
					}
					if covered {
						continue next
					}
					nsubs := len(subs)
					for k := range phantoms {
						subs = append(subs, &phantoms[k])
					}
					d.steps = 0
					ex, ok := d.witness(base, subs)
					if d.steps > maxWitnessSteps {
						err = fmt.Errorf("policy diff: gave up on the requests of old line %d and new line %d: more than %d pieces searched",
							d.side(0, i).Line, d.side(1, j).Line, maxWitnessSteps)
						return false
					}
					if !ok {
						continue
					}
					var reg DiffRegion
					if reg, err = d.region(&base, ex, i, j, subs[:nsubs], owners); err != nil {
						return false
					}
					regions = append(regions, reg)
				}
			}
			if len(regions) > 0 {
				res.Pairs = append(res.Pairs, DiffPair{Old: d.side(0, i), New: d.side(1, j), Regions: regions})
			}
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

type lineRef struct{ side, index int }

// maxWitnessSteps bounds the search for one region's example: the pieces
// of a region minus many overlapping lines can grow exponentially, and a
// diff that reports it gave up is better than one that never ends.
const maxWitnessSteps = 1 << 20

// v4Top16 are the bits of the first two bytes of an IPv4 address in
// 128-bit form.
const v4Top16 = uint64(0xffff0000)

// srcKey is the IPv4 /16 all of c's sources lie in, if there is one.
func srcKey(c *cube) (uint32, bool) {
	if c.src.fams != fam4 || c.src.care.lo&v4Top16 != v4Top16 {
		return 0, false
	}
	return uint32(c.src.val.lo>>16) & 0xffff, true
}

// each calls fn, in order, for every line of side s before upto that may
// meet a cube of source key k (every line when ok is false), until fn
// returns false.
func (d *differ) each(s int, k uint32, ok bool, upto int, fn func(int) bool) {
	if !ok {
		for i := 0; i < upto; i++ {
			if !fn(i) {
				return
			}
		}
		return
	}
	a, b := d.byKey[s][k], d.wild[s]
	for len(a) > 0 || len(b) > 0 {
		var i int
		if len(b) == 0 || len(a) > 0 && a[0] < b[0] {
			i, a = a[0], a[1:]
		} else {
			i, b = b[0], b[1:]
		}
		if i >= upto || !fn(i) {
			return
		}
	}
}

// coveredBySame reports whether an earlier line of one file that matches
// the same requests as the other file's line of the pair holds all of c.
func (d *differ) coveredBySame(c *cube, i, j int) bool {
	for s, other := range [2]int{j, i} {
		upto := [2]int{i, j}[s]
		for _, k := range d.same[s][d.keys[1-s][other]] {
			if k >= upto {
				break
			}
			for x := range d.lines[s][k] {
				if contains(&d.lines[s][k][x], c) {
					return true
				}
			}
		}
	}
	return false
}

// witness finds a real request in c that none of subs holds. It splits c
// along the first sub that meets it and searches the pieces depth first,
// so a region with many excluded lines is not cut into all its pieces.
func (d *differ) witness(c cube, subs []*cube) (DiffExample, bool) {
	d.steps++
	if d.steps > maxWitnessSteps {
		return DiffExample{}, false
	}
	// Names that cannot be met here cannot be met in any piece (a piece
	// only adds conditions): stop before cutting c into pieces that would
	// all fail at the end.
	if !d.namesPossible(&c) {
		return DiffExample{}, false
	}
	var live []*cube
	for _, s := range subs {
		if meets(&c, s) {
			if contains(s, &c) {
				return DiffExample{}, false
			}
			live = append(live, s)
		}
	}
	if len(live) == 0 {
		return d.example(&c)
	}
	for _, p := range subtract(&c, live[0], nil) {
		if ex, ok := d.witness(p, live[1:]); ok {
			return ex, true
		}
	}
	return DiffExample{}, false
}

// region confirms ex with Decide and describes the region.
func (d *differ) region(c *cube, ex DiffExample, i, j int, subs []*cube, owners []lineRef) (DiffRegion, error) {
	od := d.pols[0].Decide(ex.Request(), nil)
	nd := d.pols[1].Decide(ex.Request(), nil)
	ol, nl := od.Index, nd.Index
	if ol < 0 {
		ol = len(d.pols[0].rules)
	}
	if nl < 0 {
		nl = len(d.pols[1].rules)
	}
	if ol != i || nl != j || d.actions[0][ol] == d.actions[1][nl] {
		return DiffRegion{}, fmt.Errorf("policy diff: internal error: example %s is decided by old line %d and new line %d, not %d and %d",
			strings.Join(ex.Args(), " "), od.Index, nd.Index, i, j)
	}
	ex.OldLine, ex.NewLine = lineOf(od), lineOf(nd)
	reg := DiffRegion{Src: d.describeAddr(&c.src, false), Dst: d.describeAddr(&c.dst, true),
		Ports: [2]int{int(c.lo), int(c.hi)}, Users: d.describeUsers(&c.users), Example: ex,
		c: *c, excl: slices.Clone(subs)}
	for _, o := range owners {
		line := d.pols[o.side].conf.Rules[o.index].Pos.Line
		if o.side == 0 {
			reg.ExceptOld = append(reg.ExceptOld, line)
		} else {
			reg.ExceptNew = append(reg.ExceptNew, line)
		}
	}
	return reg, nil
}

func (d *differ) side(s, i int) DiffSide {
	p := d.pols[s]
	if i == len(p.rules) {
		return DiffSide{Index: -1, Text: "implicit default", Action: p.actionName(-1)}
	}
	cr := &p.conf.Rules[i]
	return DiffSide{Index: i, Line: cr.Pos.Line, Text: strings.TrimSpace(cr.Text), Action: p.actionName(i)}
}

// The IPv4-mapped block: requests are unmapped, so no IPv6 request address
// lies in it.
var mappedBlock = addrSet{fams: fam6, val: v4PrefixVal, care: v4Prefix}

func lineOf(d Decision) int {
	if d.Rule == nil {
		return 0
	}
	return d.Rule.Pos.Line
}

// example picks a request inside c, which lies outside the IPv4-mapped
// block. It reports false when c holds no real request (its name
// constraints cannot all be met).
func (d *differ) example(c *cube) (DiffExample, bool) {
	var ex DiffExample
	srcIP := pickAddr(&c.src)
	names, ok := d.pickNames(&c.src, false)
	if !ok {
		return ex, false
	}
	ex.From, ex.FromNames = srcIP.String(), names
	dstIP := pickAddr(&c.dst)
	names, ok = d.pickNames(&c.dst, !dstIP.IsValid())
	if !ok {
		return ex, false
	}
	if dstIP.IsValid() {
		ex.To, ex.ToNames = dstIP.String(), names
	} else {
		ex.To, ex.ToNames = names[0], names[1:]
	}
	if c.users.neg {
		ex.User = "" // class 0: no list names it
	} else {
		ex.User = d.classes[c.users.cls[0]][0]
		if c.users.cls[0] == 0 {
			ex.User = ""
		}
	}
	ex.Port = int(c.lo)
	return ex, true
}

// namesPossible reports whether c's name conditions can all be met, as
// example needs them.
func (d *differ) namesPossible(c *cube) bool {
	if len(c.src.pos)+len(c.src.neg)+len(c.dst.pos)+len(c.dst.neg) == 0 {
		return true
	}
	if _, ok := d.pickNames(&c.src, false); !ok {
		return false
	}
	_, ok := d.pickNames(&c.dst, !pickAddr(&c.dst).IsValid())
	return ok
}

// pickAddr chooses an address of a: IPv4 when it may, free bits zero.
// Invalid for a name-only destination.
func pickAddr(a *addrSet) netip.Addr {
	var b [16]byte
	v := a.val
	for k := 0; k < 8; k++ {
		b[k] = byte(v.hi >> (56 - 8*k))
		b[8+k] = byte(v.lo >> (56 - 8*k))
	}
	switch {
	case a.fams&fam4 != 0:
		return netip.AddrFrom4([4]byte(b[12:]))
	case a.fams&fam6 != 0:
		return netip.AddrFrom16(b)
	}
	return netip.Addr{}
}

// sig is the set of pattern variables name matches.
func (d *differ) sig(name string) []int32 {
	var out []int32
	for v := range d.patterns {
		if d.patterns[v].matches(name) {
			out = append(out, int32(v))
		}
	}
	return out
}

// pickNames chooses host names whose patterns cover a.pos and avoid a.neg.
// For each required pattern it takes the name matching the fewest others
// (the name itself, or a fresh name under a zone): any other choice matches
// a superset, so when these fail no choice succeeds. need asks for at least
// one name (a name-only destination).
func (d *differ) pickNames(a *addrSet, need bool) ([]string, bool) {
	var names []string
	for _, v := range a.pos {
		p := d.patterns[v]
		var n string
		found := false
		for k := 0; k < 4 && !found; k++ {
			n = p.name
			if p.zone {
				label := "sockd-diff"
				if k > 0 {
					label += strconv.Itoa(k)
				}
				n = strings.TrimSuffix(label+"."+p.name, ".")
			}
			found = !sortedMeet(d.sig(n), a.neg)
			if !p.zone {
				break
			}
		}
		if !found {
			return nil, false
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if need && len(names) == 0 {
		for k := 0; k < 4; k++ {
			n := "sockd-diff" + strconv.Itoa(k) + ".invalid"
			if !sortedMeet(d.sig(n), a.neg) {
				return []string{n}, true
			}
		}
		return nil, false
	}
	return names, true
}

// describeAddr renders an address side of a region.
func (d *differ) describeAddr(a *addrSet, dst bool) string {
	var parts []string
	fams := a.fams
	if !dst {
		fams &^= famNone
	}
	switch {
	case a.care == (mask128{}) && fams == fam4|fam6|famNone && dst:
		parts = append(parts, "any (an address or a name)")
	case a.care == (mask128{}) && fams == fam4|fam6:
		parts = append(parts, "any address")
	default:
		var alts []string
		if fams&fam4 != 0 {
			alts = append(alts, describeBits(a, true))
		}
		if fams&fam6 != 0 {
			alts = append(alts, describeBits(a, false))
		}
		if fams&famNone != 0 {
			alts = append(alts, "name only")
		}
		parts = append(parts, strings.Join(alts, " or "))
	}
	if len(a.pos) > 0 {
		parts = append(parts, "named "+d.patList(a.pos))
	}
	if len(a.neg) > 0 {
		parts = append(parts, "not named "+d.patList(a.neg))
	}
	return strings.Join(parts, ", ")
}

func (d *differ) patList(vs []int32) string {
	var out []string
	for _, v := range vs {
		p := d.patterns[v]
		s := p.name
		if p.zone {
			s = "." + s
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, " and ")
}

func describeBits(a *addrSet, v4 bool) string {
	var vb, cb [16]byte
	for k := 0; k < 8; k++ {
		vb[k], vb[8+k] = byte(a.val.hi>>(56-8*k)), byte(a.val.lo>>(56-8*k))
		cb[k], cb[8+k] = byte(a.care.hi>>(56-8*k)), byte(a.care.lo>>(56-8*k))
	}
	var ip, mask netip.Addr
	if v4 {
		if a.fams != fam4 { // bits are free
			return "any IPv4"
		}
		if a.care.lo&0xffffffff == 0 && a.care.hi == v4Prefix.hi {
			return "any IPv4"
		}
		ip, mask = netip.AddrFrom4([4]byte(vb[12:])), netip.AddrFrom4([4]byte(cb[12:]))
	} else {
		ip, mask = netip.AddrFrom16(vb), netip.AddrFrom16(cb)
		if a.care == (mask128{}) {
			return "any IPv6"
		}
	}
	if n, ok := prefixLen(mask); ok {
		return fmt.Sprintf("%s/%d", ip, n)
	}
	return ip.String() + " " + mask.String()
}

// describeUsers renders a user set; a class of many ids is abbreviated.
func (d *differ) describeUsers(u *userSet) string {
	var ids []string
	others := false
	for _, c := range u.cls {
		if c == 0 {
			others = true
			continue
		}
		ids = append(ids, d.classes[c]...)
	}
	sort.Strings(ids)
	const show = 8
	list := ids
	if len(list) > show {
		list = list[:show]
	}
	s := strings.Join(list, ",")
	if len(ids) > show {
		s += fmt.Sprintf(",… (%d ids)", len(ids))
	}
	switch {
	case u.neg && len(ids) == 0:
		return "any"
	case u.neg:
		return "any except " + s
	case others && len(ids) == 0:
		return "any not listed"
	case others:
		return s + " or any not listed"
	}
	return s
}

// covers reports whether a reported region holds req.
func (r *DiffResult) covers(req *Request) bool {
	for _, p := range r.Pairs {
		for k := range p.Regions {
			reg := &p.Regions[k]
			if !r.d.holds(&reg.c, req) {
				continue
			}
			excluded := false
			for _, e := range reg.excl {
				excluded = excluded || r.d.holds(e, req)
			}
			if !excluded {
				return true
			}
		}
	}
	return false
}

// holds reports whether req lies in c.
func (d *differ) holds(c *cube, req *Request) bool {
	if int32(req.DstPort) < c.lo || int32(req.DstPort) > c.hi {
		return false
	}
	cls, ok := d.userClass[req.User]
	if !ok {
		cls = 0
	}
	_, in := slices.BinarySearch(c.users.cls, cls)
	if in == c.users.neg {
		return false
	}
	var srcNames, dstNames []string
	if req.SrcNames != nil {
		srcNames = req.SrcNames()
	}
	if req.DstName != "" {
		dstNames = append(dstNames, req.DstName)
	}
	if req.DstNames != nil {
		dstNames = append(dstNames, req.DstNames()...)
	}
	return d.holdsAddr(&c.src, toAddr128(req.SrcIP), srcNames) && d.holdsAddr(&c.dst, toAddr128(req.DstIP), dstNames)
}

func (d *differ) holdsAddr(a *addrSet, ip addr128, names []string) bool {
	f := famNone
	switch ip.fam {
	case 4:
		f = fam4
	case 6:
		f = fam6
	}
	if a.fams&f == 0 {
		return false
	}
	if f != famNone && ((ip.hi^a.val.hi)&a.care.hi != 0 || (ip.lo^a.val.lo)&a.care.lo != 0) {
		return false
	}
	for _, v := range a.pos {
		if !d.patterns[v].matchesAny(names) {
			return false
		}
	}
	for _, v := range a.neg {
		if d.patterns[v].matchesAny(names) {
			return false
		}
	}
	return true
}
