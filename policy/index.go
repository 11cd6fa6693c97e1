package policy

import "slices"

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

type bucketKey struct{ hi, lo uint64 }

// prefixTable holds the lines filed under networks of one prefix length.
type prefixTable struct {
	plen    int
	mask    addr128
	buckets map[bucketKey][]int32
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
	buckets          map[pairKey][]int32
}

type pairKey struct{ shi, slo, dhi, dlo uint64 }

// maxPairTables bounds the hash lookups per decision spent on pair shapes;
// minPairShape is the number of lines a shape needs to deserve a table.
const (
	maxPairTables = 8
	minPairShape  = 32
)

type index struct {
	pairs    []pairTable
	src, dst dimIndex
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
	return netKey{fam: m.net.fam, plen: m.plen, hi: m.net.hi, lo: m.net.lo}, true
}

// shape is the (family, prefix length) of both networks of a line.
type shape struct {
	sfam, dfam uint8
	slen, dlen int
}

func buildIndex(rules []rule) index {
	srcCount := map[netKey]int{}
	dstCount := map[netKey]int{}
	shapeCount := map[shape]int{}
	for i := range rules {
		sk, sok := keyOf(&rules[i].src)
		dk, dok := keyOf(&rules[i].dst)
		if sok {
			srcCount[sk]++
		}
		if dok {
			dstCount[dk]++
		}
		if sok && dok {
			shapeCount[shape{sk.fam, dk.fam, sk.plen, dk.plen}]++
		}
	}
	var shapes []shape
	for sh, n := range shapeCount {
		if n >= minPairShape {
			shapes = append(shapes, sh)
		}
	}
	// The most shared shapes first; ties broken by value so that the
	// build is deterministic.
	slices.SortFunc(shapes, func(a, b shape) int {
		if d := shapeCount[b] - shapeCount[a]; d != 0 {
			return d
		}
		return cmpShape(a, b)
	})
	if len(shapes) > maxPairTables {
		shapes = shapes[:maxPairTables]
	}
	var idx index
	pairOf := map[shape]*pairTable{}
	idx.pairs = make([]pairTable, len(shapes))
	for i, sh := range shapes {
		idx.pairs[i] = pairTable{srcMask: prefixMask(sh.sfam, sh.slen), dstMask: prefixMask(sh.dfam, sh.dlen),
			buckets: map[pairKey][]int32{}}
		pairOf[sh] = &idx.pairs[i]
	}
	srcLists := map[netKey][]int32{}
	dstLists := map[netKey][]int32{}
	for i := range rules {
		sk, sok := keyOf(&rules[i].src)
		dk, dok := keyOf(&rules[i].dst)
		if sok && dok {
			if t := pairOf[shape{sk.fam, dk.fam, sk.plen, dk.plen}]; t != nil {
				k := pairKey{sk.hi, sk.lo, dk.hi, dk.lo}
				t.buckets[k] = append(t.buckets[k], int32(i))
				continue
			}
		}
		switch {
		case sok && (!dok || srcCount[sk] <= dstCount[dk]):
			srcLists[sk] = append(srcLists[sk], int32(i))
		case dok:
			dstLists[dk] = append(dstLists[dk], int32(i))
		default:
			idx.fallback = append(idx.fallback, int32(i))
		}
	}
	idx.src = buildDim(srcLists)
	idx.dst = buildDim(dstLists)
	return idx
}

func cmpShape(a, b shape) int {
	for _, d := range [4]int{int(a.sfam) - int(b.sfam), int(a.dfam) - int(b.dfam), a.slen - b.slen, a.dlen - b.dlen} {
		if d != 0 {
			return d
		}
	}
	return 0
}

func buildDim(lists map[netKey][]int32) dimIndex {
	tables := map[[2]int]*prefixTable{}
	for k, l := range lists {
		tk := [2]int{int(k.fam), k.plen}
		t := tables[tk]
		if t == nil {
			t = &prefixTable{plen: k.plen, mask: prefixMask(k.fam, k.plen), buckets: map[bucketKey][]int32{}}
			tables[tk] = t
		}
		t.buckets[bucketKey{k.hi, k.lo}] = slices.Clip(l)
	}
	var d dimIndex
	for tk, t := range tables {
		if tk[0] == 4 {
			d.v4 = append(d.v4, *t)
		} else {
			d.v6 = append(d.v6, *t)
		}
	}
	byLen := func(a, b prefixTable) int { return a.plen - b.plen }
	slices.SortFunc(d.v4, byLen)
	slices.SortFunc(d.v6, byLen)
	return d
}

// collect appends the buckets address a falls into.
func (d *dimIndex) collect(a addr128, lists [][]int32) [][]int32 {
	tables := d.v4
	switch a.fam {
	case 0:
		return lists
	case 6:
		tables = d.v6
	}
	for i := range tables {
		t := &tables[i]
		if l, ok := t.buckets[bucketKey{a.hi & t.mask.hi, a.lo & t.mask.lo}]; ok {
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
		k := pairKey{src.hi & t.srcMask.hi, src.lo & t.srcMask.lo, dst.hi & t.dstMask.hi, dst.lo & t.dstMask.lo}
		if l, ok := t.buckets[k]; ok {
			lists = append(lists, l)
		}
	}
	return lists
}

// stackLists is how many candidate lists fit without a heap allocation:
// the fallback plus more prefix lengths per dimension than real
// configurations use.
const stackLists = 48

// first returns the index of the first line matching the request, or -1.
func (x *index) first(rules []rule, st *evalState) int {
	var buf [stackLists][]int32
	lists := x.collectPairs(st.src, st.dst, buf[:0])
	lists = x.src.collect(st.src, lists)
	lists = x.dst.collect(st.dst, lists)
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
	lists := x.collectPairs(src, dst, nil)
	lists = x.src.collect(src, lists)
	lists = x.dst.collect(dst, lists)
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
