package policy

import (
	"math/bits"
	"slices"
)

// The decision index. Each line is filed under ONE key, when it has an
// address field with a contiguous, non-zero mask ("a network"):
//
//   - lines with two networks, of a (source, destination) prefix-length
//     shape shared by many lines, under the pair of networks: one hash
//     lookup per such shape then finds exactly the lines whose two
//     networks contain the request's two addresses;
//   - other lines with a network under the source or the destination
//     network, whichever fewer lines share, so buckets stay small;
//   - lines with no network (any, all-zero masks, name patterns,
//     non-contiguous masks) in a fallback list.
//
// Every bucket and the fallback hold line numbers in increasing order. A
// line can match a request only if the request's addresses fall in the
// networks it is filed under (or it is in the fallback), so the candidates
// for a request are the buckets its addresses hit, one per shape or prefix
// length present, plus the fallback. Merging those sorted lists and testing
// each candidate fully, in increasing order, finds the first matching line:
// exactly the answer of the first-match loop, since every line skipped was
// proven not to match.
//
// The buckets of every table live in one hash table (keyTable) keyed by
// (table, network or pair of networks), sized once from the number of
// lines and holding only flat arrays of numbers: building it for 100,000
// lines is a few passes over them with no per-bucket allocation, and the
// garbage collector has no pointers to follow in it.

// tableID names one sub-table of the index inside keyTable: a pair shape
// (0..maxPairTables-1) or a (dimension, family, prefix length).
type tableID int32

func dimTable(dim, fam uint8, plen int) tableID {
	f := 0
	if fam == 6 {
		f = 1
	}
	return tableID(maxPairTables + (int(dim)*2+f)*129 + plen)
}

// The two dimensions of dimTable.
const (
	dimSource uint8 = iota
	dimDestination
)

// prefixTable is one prefix length of one family of one dimension.
type prefixTable struct {
	plen int
	mask addr128
	id   tableID
}

// dimIndex is one dimension (source or destination): tables per family,
// ordered by prefix length.
type dimIndex struct {
	v4, v6 []prefixTable
}

// pairTable holds the lines filed under a (source, destination) pair of
// networks of one shape.
type pairTable struct {
	srcMask, dstMask addr128 // their fam fields are the families
	id               tableID
}

// maxPairTables bounds the hash lookups per decision spent on pair shapes;
// minPairShape is the number of lines a shape needs to deserve a table.
const (
	maxPairTables = 8
	minPairShape  = 32
)

type index struct {
	pairs    []pairTable
	src, dst dimIndex
	buckets  keyTable
	fallback []int32
}

// netKey identifies a network within a dimension during the build.
type netKey struct {
	fam    uint8
	plen   int
	hi, lo uint64
}

func keyOf(m *addrMatcher) (netKey, bool) {
	if m.kind != kindMask || m.plen <= 0 {
		return netKey{}, false
	}
	return netKey{fam: m.fam, plen: int(m.plen), hi: m.net.hi, lo: m.net.lo}, true
}

// shapeCode numbers the (family, prefix length) pairs of both networks of
// a line densely, so that shapes are counted in a flat array.
func shapeCode(s, d netKey) int { return famLen(s)*famLens + famLen(d) }

const famLens = 2 * 129 // families times prefix lengths 0..128

func famLen(k netKey) int {
	if k.fam == 6 {
		return 129 + k.plen
	}
	return k.plen
}

func famLenMask(code int) addr128 {
	if code >= 129 {
		return prefixMask(6, code-129)
	}
	return prefixMask(4, code)
}

// lineShapes sets codes[i] to the shapeCode of line i when it has two
// networks, else to -1. New runs it on each half of the lines as it
// compiles them.
func lineShapes(rules []rule, codes []int32) {
	for i := range rules {
		codes[i] = -1
		sk, sok := keyOf(&rules[i].src)
		dk, dok := keyOf(&rules[i].dst)
		if sok && dok {
			codes[i] = int32(shapeCode(sk, dk))
		}
	}
}

// buildIndex indexes rules; codes is what lineShapes gives for them (nil:
// buildIndex computes it). It is taken over as scratch space.
func buildIndex(rules []rule, codes []int32) index {
	var idx index
	if codes == nil {
		codes = make([]int32, len(rules))
		lineShapes(rules, codes)
	}
	// Pass 1: count the lines of each pair shape.
	shapeCount := make([]int32, famLens*famLens)
	for _, code := range codes {
		if code >= 0 {
			shapeCount[code]++
		}
	}
	var shapes []int
	for code, n := range shapeCount {
		if n >= minPairShape {
			shapes = append(shapes, code)
		}
	}
	// The most shared shapes first; ties broken by code so that the build
	// is deterministic.
	slices.SortFunc(shapes, func(a, b int) int {
		if d := int(shapeCount[b]) - int(shapeCount[a]); d != 0 {
			return d
		}
		return a - b
	})
	if len(shapes) > maxPairTables {
		shapes = shapes[:maxPairTables]
	}
	// From here shapeCount holds the pair table of a shape plus one (0: none).
	clear(shapeCount)
	idx.pairs = make([]pairTable, len(shapes))
	for i, code := range shapes {
		idx.pairs[i] = pairTable{srcMask: famLenMask(code / famLens), dstMask: famLenMask(code % famLens), id: tableID(i)}
		shapeCount[code] = int32(i + 1)
	}
	// pairOf is the pair table of a line, from its code.
	pairOf := func(code int32) (tableID, bool) {
		if code < 0 {
			return 0, false
		}
		t := shapeCount[code]
		return tableID(t - 1), t > 0
	}

	// Pass 2: lines with two networks but no pair table go under the
	// network fewer such lines share. Only these lines need counts.
	contested := 0
	for _, code := range codes {
		if _, ok := pairOf(code); code >= 0 && !ok {
			contested++
		}
	}
	var shared keyTable
	if contested > 0 {
		shared = newKeyTable(2*contested, rules)
		for i, code := range codes {
			if _, ok := pairOf(code); code >= 0 && !ok {
				sk, _ := keyOf(&rules[i].src)
				dk, _ := keyOf(&rules[i].dst)
				shared.add(dimKey(dimSource, sk), i)
				shared.add(dimKey(dimDestination, dk), i)
			}
		}
	}

	// Pass 3: file every line; buckets are counted, then filled in line
	// order so that each is sorted. From here codes holds each line's
	// bucket (-1: the fallback).
	idx.buckets = newKeyTable(len(rules), rules)
	bucketOf := codes
	var present [2][2 * 129]bool // dimension, family and prefix length in use
	for i := range rules {
		sk, sok := keyOf(&rules[i].src)
		dk, dok := keyOf(&rules[i].dst)
		var k bucketKey
		switch {
		case sok && dok:
			if t, ok := pairOf(bucketOf[i]); ok {
				k = bucketKey{sk.hi, sk.lo, dk.hi, dk.lo, t}
				break
			}
			if shared.count(dimKey(dimSource, sk)) <= shared.count(dimKey(dimDestination, dk)) {
				k, present[dimSource][famLen(sk)] = dimKey(dimSource, sk), true
			} else {
				k, present[dimDestination][famLen(dk)] = dimKey(dimDestination, dk), true
			}
		case sok:
			k, present[dimSource][famLen(sk)] = dimKey(dimSource, sk), true
		case dok:
			k, present[dimDestination][famLen(dk)] = dimKey(dimDestination, dk), true
		default:
			bucketOf[i] = -1
			idx.fallback = append(idx.fallback, int32(i))
			continue
		}
		bucketOf[i] = idx.buckets.add(k, i)
	}
	idx.buckets.fill(bucketOf)
	idx.src = buildDim(dimSource, &present[dimSource])
	idx.dst = buildDim(dimDestination, &present[dimDestination])
	return idx
}

func dimKey(dim uint8, k netKey) bucketKey {
	return bucketKey{k.hi, k.lo, 0, 0, dimTable(dim, k.fam, k.plen)}
}

func buildDim(dim uint8, present *[2 * 129]bool) dimIndex {
	var d dimIndex
	for code, ok := range present {
		if !ok {
			continue
		}
		t := prefixTable{mask: famLenMask(code)}
		if code >= 129 {
			t.plen = code - 129
			t.id = dimTable(dim, 6, t.plen)
			d.v6 = append(d.v6, t)
		} else {
			t.plen = code
			t.id = dimTable(dim, 4, t.plen)
			d.v4 = append(d.v4, t)
		}
	}
	return d
}

// collect appends the buckets address a falls into.
func (x *index) collect(d *dimIndex, a addr128, lists [][]int32) [][]int32 {
	tables := d.v4
	switch a.fam {
	case 0:
		return lists
	case 6:
		tables = d.v6
	}
	for i := range tables {
		t := &tables[i]
		if l := x.buckets.lines(bucketKey{a.hi & t.mask.hi, a.lo & t.mask.lo, 0, 0, t.id}); l != nil {
			lists = append(lists, l)
		}
	}
	return lists
}

// collectPairs appends the pair buckets the two addresses fall into.
func (x *index) collectPairs(src, dst addr128, lists [][]int32) [][]int32 {
	for i := range x.pairs {
		t := &x.pairs[i]
		if src.fam != t.srcMask.fam || dst.fam != t.dstMask.fam {
			continue
		}
		k := bucketKey{src.hi & t.srcMask.hi, src.lo & t.srcMask.lo, dst.hi & t.dstMask.hi, dst.lo & t.dstMask.lo, t.id}
		if l := x.buckets.lines(k); l != nil {
			lists = append(lists, l)
		}
	}
	return lists
}

// collectAll appends every bucket the request's addresses hit.
func (x *index) collectAll(src, dst addr128, lists [][]int32) [][]int32 {
	lists = x.collectPairs(src, dst, lists)
	lists = x.collect(&x.src, src, lists)
	return x.collect(&x.dst, dst, lists)
}

// stackLists is how many candidate lists fit without a heap allocation:
// the fallback plus more prefix lengths per dimension than real
// configurations use.
const stackLists = 48

// first returns the index of the first line matching the request, or -1.
func (x *index) first(rules []rule, st *evalState) int {
	var buf [stackLists][]int32
	lists := x.collectAll(st.src, st.dst, buf[:0])
	if len(x.fallback) > 0 {
		lists = append(lists, x.fallback)
	}
	for {
		best, from := int32(-1), -1
		for i, l := range lists {
			if len(l) > 0 && (from < 0 || l[0] < best) {
				best, from = l[0], i
			}
		}
		if from < 0 {
			return -1
		}
		lists[from] = lists[from][1:]
		if st.match(&rules[best]) == fieldNone {
			return int(best)
		}
	}
}

// candidates returns, in increasing order, every line whose indexed field
// accepts the given source and destination addresses (fam 0: no address),
// plus the fallback. Lint uses it to find the lines that could cover a line.
func (x *index) candidates(src, dst addr128) []int32 {
	lists := x.collectAll(src, dst, nil)
	n := len(x.fallback)
	for _, l := range lists {
		n += len(l)
	}
	out := make([]int32, 0, n)
	out = append(out, x.fallback...)
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return out
}

// bucketKey is a network (a, b; c = d = 0) or a pair of networks of one
// sub-table.
type bucketKey struct {
	a, b, c, d uint64
	table      tableID
}

func (k *bucketKey) hash() uint64 {
	// wyhash-style mixing: each multiply folds 128 bits of product, so
	// that networks differing in a few bits spread over the whole table.
	const (
		k0 = 0xa0761d6478bd642f
		k1 = 0xe7037ed1a0b428db
		k2 = 0x8ebc6af09c88c6e3
		k3 = 0x589965cc75374cc3
	)
	h := mix(k.a^k0, k.b^k1)
	h = mix(h^k.c^k2, k.d^uint64(k.table)^k3)
	return h
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// keyTable maps bucket keys to lists of line numbers with open addressing
// (linear probing). It is sized once, for at most maxKeys keys, at a load
// of at most one half, and holds no pointers but the rules. A key is not
// stored: every line filed under it has it, so the table keeps the first
// such line and the sub-table, and derives the key from them (lineKey).
type keyTable struct {
	// slots hold the hash's top 32 bits and the key's index plus one (0:
	// empty), so that most probes are settled without reading keys; the
	// home slot comes from the hash's low bits.
	slots []uint64
	keys  []keyRef
	rules []rule
	// starts[i]..starts[i+1] is key i's part of lines once fill has run;
	// before, starts[i] counts key i's lines.
	starts []int32
	all    []int32
}

// keyRef is a stored key: a line filed under it, and its sub-table.
type keyRef struct {
	line  int32
	table tableID
}

// lineKey is the key under which line r is filed in sub-table t.
func lineKey(r *rule, t tableID) bucketKey {
	switch {
	case t < maxPairTables:
		return bucketKey{r.src.net.hi, r.src.net.lo, r.dst.net.hi, r.dst.net.lo, t}
	case (int(t)-maxPairTables)/famLens == int(dimSource):
		return bucketKey{r.src.net.hi, r.src.net.lo, 0, 0, t}
	}
	return bucketKey{r.dst.net.hi, r.dst.net.lo, 0, 0, t}
}

func newKeyTable(maxKeys int, rules []rule) keyTable {
	size := 8
	for size < 2*maxKeys {
		size *= 2
	}
	return keyTable{
		slots:  make([]uint64, size),
		keys:   make([]keyRef, 0, maxKeys),
		rules:  rules,
		starts: make([]int32, 0, maxKeys+1),
	}
}

func (t *keyTable) same(at int32, k *bucketKey) bool {
	ref := t.keys[at]
	return ref.table == k.table && lineKey(&t.rules[ref.line], ref.table) == *k
}

// find returns the index of k, or -1.
func (t *keyTable) find(k *bucketKey) int32 {
	if len(t.slots) == 0 {
		return -1
	}
	at, _, _ := t.probe(k)
	return at
}

// add counts line under k, which must be lineKey of that line, inserting
// k if new, and returns its index. More than maxKeys distinct keys is a
// bug of the caller.
func (t *keyTable) add(k bucketKey, line int) int32 {
	at, slot, tag := t.probe(&k)
	if at >= 0 {
		t.starts[at]++
		return at
	}
	at = int32(len(t.keys))
	t.keys = append(t.keys, keyRef{int32(line), k.table})
	t.starts = append(t.starts, 1)
	t.slots[slot] = tag | uint64(at+1)
	return at
}

// probe looks k up in a table that has slots: it returns the index of k,
// or -1 and the empty slot where k belongs with the tag that slot would
// hold.
func (t *keyTable) probe(k *bucketKey) (at int32, slot, tag uint64) {
	h := k.hash()
	tag = h >> 32 << 32
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return -1, i, tag
		}
		if s&^0xffffffff == tag {
			if at := int32(s&0xffffffff) - 1; t.same(at, k) {
				return at, i, tag
			}
		}
	}
}

// count returns how many lines were added under k.
func (t *keyTable) count(k bucketKey) int32 {
	if at := t.find(&k); at >= 0 {
		return t.starts[at]
	}
	return 0
}

// fill turns the counts into the lists: line i goes to key bucketOf[i]
// (-1: none), in increasing order of i.
func (t *keyTable) fill(bucketOf []int32) {
	total := int32(0)
	for i, n := range t.starts {
		t.starts[i] = total
		total += n
	}
	t.starts = append(t.starts, total)
	next := slices.Clone(t.starts[:len(t.keys)])
	t.all = make([]int32, total)
	for i, b := range bucketOf {
		if b >= 0 {
			t.all[next[b]] = int32(i)
			next[b]++
		}
	}
}

// lines returns the lines filed under k, nil if none.
func (t *keyTable) lines(k bucketKey) []int32 {
	at := t.find(&k)
	if at < 0 {
		return nil
	}
	return t.all[t.starts[at]:t.starts[at+1]:t.starts[at+1]]
}
