package frozen

import (
	"encoding/binary"
	"fmt"
	"math"
)

// This file holds the small subset of MessagePack the body uses, written by
// hand for two reasons. First, the reflective encoder of msgpack/v5 treats
// every netip.Addr as empty (it has no exported fields), so an
// `omitempty` address field such as config.Addr.IP is silently dropped.
// Second, the daemon must load a 100,000-rule file quickly, and reflection
// costs several times more than these direct calls.
//
// The writer emits exactly what msgpack/v5 emits with UseCompactInts(true):
// the shortest integer, string, binary, array and map headers. The reader
// accepts only the types the schema expects; canonical form is then
// enforced once for the whole body by re-encoding (see decodeBody).

// MessagePack type codes used by the body.
const (
	codeNil     = 0xc0
	codeFalse   = 0xc2
	codeTrue    = 0xc3
	codeBin8    = 0xc4
	codeBin16   = 0xc5
	codeBin32   = 0xc6
	codeUint8   = 0xcc
	codeUint16  = 0xcd
	codeUint32  = 0xce
	codeUint64  = 0xcf
	codeInt8    = 0xd0
	codeInt16   = 0xd1
	codeInt32   = 0xd2
	codeInt64   = 0xd3
	codeStr8    = 0xd9
	codeStr16   = 0xda
	codeStr32   = 0xdb
	codeArray16 = 0xdc
	codeArray32 = 0xdd
	codeMap16   = 0xde
	codeMap32   = 0xdf

	fixMapLow   = 0x80 // 0x80..0x8f: map of 0..15 entries
	fixArrayLow = 0x90 // 0x90..0x9f: array of 0..15 elements
	fixStrLow   = 0xa0 // 0xa0..0xbf: string of 0..31 bytes
	negFixLow   = 0xe0 // 0xe0..0xff: -32..-1
)

// writer appends MessagePack to a byte slice.
type writer struct{ buf []byte }

func (w *writer) nil() { w.buf = append(w.buf, codeNil) }

func (w *writer) bool(v bool) {
	if v {
		w.buf = append(w.buf, codeTrue)
	} else {
		w.buf = append(w.buf, codeFalse)
	}
}

func (w *writer) uint(v uint64) {
	switch {
	case v <= math.MaxInt8:
		w.buf = append(w.buf, byte(v))
	case v <= math.MaxUint8:
		w.buf = append(w.buf, codeUint8, byte(v))
	case v <= math.MaxUint16:
		w.buf = binary.BigEndian.AppendUint16(append(w.buf, codeUint16), uint16(v))
	case v <= math.MaxUint32:
		w.buf = binary.BigEndian.AppendUint32(append(w.buf, codeUint32), uint32(v))
	default:
		w.buf = binary.BigEndian.AppendUint64(append(w.buf, codeUint64), v)
	}
}

func (w *writer) int(v int64) {
	switch {
	case v >= 0:
		w.uint(uint64(v))
	case v >= -32:
		w.buf = append(w.buf, byte(v))
	case v >= math.MinInt8:
		w.buf = append(w.buf, codeInt8, byte(v))
	case v >= math.MinInt16:
		w.buf = binary.BigEndian.AppendUint16(append(w.buf, codeInt16), uint16(v))
	case v >= math.MinInt32:
		w.buf = binary.BigEndian.AppendUint32(append(w.buf, codeInt32), uint32(v))
	default:
		w.buf = binary.BigEndian.AppendUint64(append(w.buf, codeInt64), uint64(v))
	}
}

// header writes a length header: fixLow+n when n fits in the fix range
// (fixMax), otherwise the 8-, 16- or 32-bit form. code8 is 0 for types
// without an 8-bit form (arrays and maps).
func (w *writer) header(n int, fixLow byte, fixMax int, code8, code16, code32 byte) {
	switch {
	case n <= fixMax && fixLow != 0:
		w.buf = append(w.buf, fixLow|byte(n))
	case n <= math.MaxUint8 && code8 != 0:
		w.buf = append(w.buf, code8, byte(n))
	case n <= math.MaxUint16:
		w.buf = binary.BigEndian.AppendUint16(append(w.buf, code16), uint16(n))
	default:
		w.buf = binary.BigEndian.AppendUint32(append(w.buf, code32), uint32(n))
	}
}

func (w *writer) str(s string) {
	w.header(len(s), fixStrLow, 31, codeStr8, codeStr16, codeStr32)
	w.buf = append(w.buf, s...)
}

func (w *writer) bin(b []byte) {
	w.header(len(b), 0, -1, codeBin8, codeBin16, codeBin32)
	w.buf = append(w.buf, b...)
}

func (w *writer) arrayLen(n int) { w.header(n, fixArrayLow, 15, 0, codeArray16, codeArray32) }

func (w *writer) mapLen(n int) { w.header(n, fixMapLow, 15, 0, codeMap16, codeMap32) }

// reader decodes MessagePack from a body. Errors are sticky: after the first
// one every read returns a zero value, so decoding code reads straight
// through and checks r.err where it loops.
type reader struct {
	buf []byte
	// text is buf as one string: string fields are slices of it, so a
	// body with a million strings costs one allocation instead of a million.
	text string
	off  int
	err  error
}

func newReader(body []byte) *reader {
	return &reader{buf: body, text: string(body)}
}

// failf records the first error, with the byte offset in the body where
// the faulty item starts.
func (r *reader) failf(at int, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at body byte %d: %s", at, fmt.Sprintf(format, args...))
	}
}

func (r *reader) left() int { return len(r.buf) - r.off }

func (r *reader) peek() (byte, bool) {
	if r.err != nil {
		return 0, false
	}
	if r.off >= len(r.buf) {
		r.failf(r.off, "unexpected end of body")
		return 0, false
	}
	return r.buf[r.off], true
}

// take consumes n bytes; it fails (without allocating) when fewer remain.
func (r *reader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(r.left()) {
		r.failf(r.off, "item of %d bytes overruns the body (%d bytes left)", n, r.left())
		return nil
	}
	b := r.buf[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

func (r *reader) be(n int) uint64 {
	b := r.take(uint64(n))
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	case 8:
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// describe names a type code for error messages.
func describe(c byte) string {
	switch {
	case c <= 0x7f || (c >= codeUint8 && c <= codeUint64):
		return "an unsigned integer"
	case c >= negFixLow || (c >= codeInt8 && c <= codeInt64):
		return "an integer"
	case c >= fixMapLow && c < fixArrayLow, c == codeMap16, c == codeMap32:
		return "a map"
	case c >= fixArrayLow && c < fixStrLow, c == codeArray16, c == codeArray32:
		return "an array"
	case c >= fixStrLow && c <= 0xbf, c >= codeStr8 && c <= codeStr32:
		return "a string"
	case c >= codeBin8 && c <= codeBin32:
		return "binary data"
	case c == codeNil:
		return "nil"
	case c == codeFalse || c == codeTrue:
		return "a boolean"
	}
	return fmt.Sprintf("type code 0x%02x", c)
}

// uint reads an unsigned integer no larger than max.
func (r *reader) uint(max uint64, what string) uint64 {
	at := r.off
	c, ok := r.peek()
	if !ok {
		return 0
	}
	var v uint64
	switch {
	case c <= 0x7f:
		r.off++
		v = uint64(c)
	case c >= codeUint8 && c <= codeUint64:
		r.off++
		v = r.be(1 << (c - codeUint8))
	default:
		r.failf(at, "%s: expected an unsigned integer, found %s", what, describe(c))
		return 0
	}
	if v > max {
		r.failf(at, "%s: %d is out of range (at most %d)", what, v, max)
		return 0
	}
	return v
}

// int reads a signed integer that fits in an int.
func (r *reader) int(what string) int {
	at := r.off
	c, ok := r.peek()
	if !ok {
		return 0
	}
	var v int64
	switch {
	case c <= 0x7f || (c >= codeUint8 && c <= codeUint64):
		u := r.uint(math.MaxInt64, what)
		v = int64(u)
	case c >= negFixLow:
		r.off++
		v = int64(int8(c))
	case c >= codeInt8 && c <= codeInt64:
		r.off++
		n := 1 << (c - codeInt8)
		u := r.be(n)
		shift := 64 - 8*n
		v = int64(u<<shift) >> shift // sign-extend
	default:
		r.failf(at, "%s: expected an integer, found %s", what, describe(c))
		return 0
	}
	if v < math.MinInt || v > math.MaxInt {
		r.failf(at, "%s: %d does not fit in an int", what, v)
		return 0
	}
	return int(v)
}

func (r *reader) bool(what string) bool {
	at := r.off
	c, ok := r.peek()
	if !ok {
		return false
	}
	if c != codeFalse && c != codeTrue {
		r.failf(at, "%s: expected a boolean, found %s", what, describe(c))
		return false
	}
	r.off++
	return c == codeTrue
}

// length reads a length header of a type whose fix form covers
// fixLow..fixLow+fixMax (fixMax < 0: no fix form) and whose sized forms
// are code8 (0: none), code16 and code32.
func (r *reader) length(fixLow byte, fixMax int, code8, code16, code32 byte, want, what string) (int, bool) {
	at := r.off
	c, ok := r.peek()
	if !ok {
		return 0, false
	}
	var n uint64
	switch {
	case fixMax >= 0 && c >= fixLow && int(c-fixLow) <= fixMax:
		r.off++
		n = uint64(c - fixLow)
	case code8 != 0 && c == code8:
		r.off++
		n = r.be(1)
	case c == code16:
		r.off++
		n = r.be(2)
	case c == code32:
		r.off++
		n = r.be(4)
	default:
		r.failf(at, "%s: expected %s, found %s", what, want, describe(c))
		return 0, false
	}
	if r.err != nil {
		return 0, false
	}
	// Every element, byte or entry takes at least one byte of the body, so
	// a length beyond what is left is impossible: refusing it here is what
	// stops a crafted header from causing a huge allocation.
	if n > uint64(r.left()) {
		r.failf(at, "%s: length %d overruns the body (%d bytes left)", what, n, r.left())
		return 0, false
	}
	return int(n), true
}

func (r *reader) str(what string) string {
	n, ok := r.length(fixStrLow, 31, codeStr8, codeStr16, codeStr32, "a string", what)
	if !ok {
		return ""
	}
	s := r.text[r.off : r.off+n]
	r.off += n
	return s
}

// strBytes reads a string without copying it, for map keys.
func (r *reader) strBytes(what string) []byte {
	n, ok := r.length(fixStrLow, 31, codeStr8, codeStr16, codeStr32, "a string", what)
	if !ok {
		return nil
	}
	return r.take(uint64(n))
}

func (r *reader) bin(what string) []byte {
	n, ok := r.length(0, -1, codeBin8, codeBin16, codeBin32, "binary data", what)
	if !ok {
		return nil
	}
	return r.take(uint64(n))
}

// arrayLen reads an array header; nilOK says whether nil (a nil slice) is
// allowed, in which case isNil reports it.
func (r *reader) arrayLen(what string, nilOK bool) (n int, isNil bool) {
	if c, ok := r.peek(); ok && c == codeNil && nilOK {
		r.off++
		return 0, true
	}
	n, _ = r.length(fixArrayLow, 15, 0, codeArray16, codeArray32, "an array", what)
	return n, false
}

// fieldSet lists the keys of a struct's map in the order msgpack writes
// them (the Go field order); optional marks the `omitempty` fields.
type fieldSet struct {
	name     string // for messages: "rule", "address", ...
	keyWhat  string // name + " key", built once: decoding must not allocate per key
	keys     []string
	optional []bool
}

func newFieldSet(name string, keys []string, optional []bool) *fieldSet {
	return &fieldSet{name: name, keyWhat: name + " key", keys: keys, optional: optional}
}

// mapIter walks a map whose keys must be a subsequence of a fieldSet's
// keys, in order: no unknown, duplicate or out-of-order key, and no
// missing required key. Walking this way also bounds memory: every
// decoded struct has consumed at least its required keys from the body.
type mapIter struct {
	r    *reader
	fs   *fieldSet
	at   int // offset of the map, for messages
	left int // entries not read yet
	next int // index in fs.keys of the first key that may still come
}

func (r *reader) openMap(fs *fieldSet) mapIter {
	at := r.off
	n, _ := r.length(fixMapLow, 15, 0, codeMap16, codeMap32, "a map", fs.name)
	return mapIter{r: r, fs: fs, at: at, left: n}
}

// field reads the next key and returns its index in fs.keys, or -1 when
// the map is done (or broken: see r.err).
func (m *mapIter) field() int {
	r := m.r
	if r.err != nil {
		return -1
	}
	if m.left == 0 {
		m.requireFrom(len(m.fs.keys))
		return -1
	}
	at := r.off
	key := r.strBytes(m.fs.keyWhat)
	if r.err != nil {
		return -1
	}
	for i := m.next; i < len(m.fs.keys); i++ {
		if string(key) == m.fs.keys[i] {
			m.requireFrom(i)
			m.next = i + 1
			m.left--
			return i
		}
	}
	r.failf(at, "%s has an unknown, repeated or out-of-order field %q", m.fs.name, key)
	return -1
}

// requireFrom fails if a required key before index end was skipped.
func (m *mapIter) requireFrom(end int) {
	for i := m.next; i < end; i++ {
		if !m.fs.optional[i] {
			m.r.failf(m.at, "%s has no %q field", m.fs.name, m.fs.keys[i])
			return
		}
	}
}
