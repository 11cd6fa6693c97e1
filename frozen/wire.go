package frozen

import (
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"
)

// The writer is msgpack/v5's streaming Encoder, called field by field
// from codec.go: no reflection, so no struct tags and no `omitempty` to
// drop a netip.Addr (which the reflective encoder thinks empty, having no
// exported fields), and the shortest integer, string, binary and array
// headers, exactly as the reflective encoder writes with UseCompactInts(true)
// and UseArrayEncodedStructs(true). The tests hold the two to the same bytes.
//
// The reader below stays written by hand, for what msgpack/v5's Decoder
// cannot do. It must refuse every non-canonical form (a longer integer or
// length header than needed), which the Decoder accepts without saying
// which form it read; it names the byte offset of a fault; and it slices
// strings out of the file's text instead of copying each one, which is
// what keeps a 100,000-rule file at a few dozen allocations. The Decoder,
// even doing none of those checks, loads that file markedly slower:
// BenchmarkDecodeSockd100kMsgpackDecoder measures it, and
// docs/frozen-codec.md has the figures. The reader accepts only the types
// the schema expects, and only in the shortest form, so that every body it
// accepts is the one encoding of what it decoded.

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

// writer appends MessagePack to buf through a msgpack/v5 Encoder; its zero
// value is ready to use. It is the Encoder's io.Writer and io.ByteWriter,
// so the Encoder appends straight to buf without a buffer of its own, and
// no write can fail: the Encoder's errors, always nil here, are dropped.
// The Encoder points back at the writer, so a writer is not copied once
// used.
type writer struct {
	buf []byte
	enc *msgpack.Encoder
}

func (w *writer) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *writer) WriteByte(c byte) error {
	w.buf = append(w.buf, c)
	return nil
}

func (w *writer) e() *msgpack.Encoder {
	if w.enc == nil {
		w.enc = msgpack.NewEncoder(w)
	}
	return w.enc
}

func (w *writer) nil()           { w.e().EncodeNil() }
func (w *writer) bool(v bool)    { w.e().EncodeBool(v) }
func (w *writer) uint(v uint64)  { w.e().EncodeUint(v) }
func (w *writer) int(v int64)    { w.e().EncodeInt(v) }
func (w *writer) str(s string)   { w.e().EncodeString(s) }
func (w *writer) arrayLen(n int) { w.e().EncodeArrayLen(n) }

// bin writes binary data; EncodeBytes would write nil for a nil slice.
func (w *writer) bin(b []byte) {
	w.e().EncodeBytesLen(len(b))
	w.buf = append(w.buf, b...)
}

// reader decodes MessagePack from a body held as one string: string fields
// are slices of it, so a body with a million strings costs no allocation
// for them. Errors are sticky: after the first one every read returns a
// zero value, so decoding code reads straight through and checks r.err
// where it loops.
type reader struct {
	text string
	off  int
	err  error
	strs []string // unused part of the current backing array of user lists
}

func newReader(body string) *reader { return &reader{text: body} }

// failf records the first error, with the byte offset in the body where
// the faulty item starts.
func (r *reader) failf(at int, format string, args ...any) {
	r.fail(fmt.Errorf("at body byte %d: %s", at, fmt.Sprintf(format, args...)))
}

// fail records an error that carries its own context (a validation error).
// It also moves to the end of the body, so that the fast paths, which
// check only that bytes are left, fall through to the slow ones, which
// see the error.
func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
		r.off = len(r.text)
	}
}

func (r *reader) left() int { return len(r.text) - r.off }

func (r *reader) peek() (byte, bool) {
	if r.err != nil {
		return 0, false
	}
	if r.off >= len(r.text) {
		r.failf(r.off, "unexpected end of body")
		return 0, false
	}
	return r.text[r.off], true
}

// take consumes n bytes; it fails (without allocating) when fewer remain.
func (r *reader) take(n uint64) (string, bool) {
	if r.err != nil {
		return "", false
	}
	if n > uint64(r.left()) {
		r.failf(r.off, "item of %d bytes overruns the body (%d bytes left)", n, r.left())
		return "", false
	}
	s := r.text[r.off : r.off+int(n)]
	r.off += int(n)
	return s, true
}

// be reads an n-byte big-endian number (n is 1, 2, 4 or 8).
func (r *reader) be(n int) uint64 {
	b, ok := r.take(uint64(n))
	if !ok {
		return 0
	}
	var v uint64
	for i := 0; i < len(b); i++ {
		v = v<<8 | uint64(b[i])
	}
	return v
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

// nonCanonical reports a value written in a longer form than the shortest
// one, which the writer never produces: accepting it would let two
// different files decode to the same configuration.
func (r *reader) nonCanonical(at int, what string) {
	r.failf(at, "%s: not in canonical form (a shorter encoding exists)", what)
}

// uintForm is the smallest value each sized unsigned form may hold, by
// code-codeUint8: smaller values have a shorter form.
var uintForm = [4]uint64{math.MaxInt8 + 1, math.MaxUint8 + 1, math.MaxUint16 + 1, math.MaxUint32 + 1}

// uint reads an unsigned integer no larger than max.
func (r *reader) uint(max uint64, what string) uint64 {
	if r.off < len(r.text) {
		if c := r.text[r.off]; c <= 0x7f && uint64(c) <= max {
			r.off++
			return uint64(c)
		}
	}
	return r.uintSlow(max, what)
}

func (r *reader) uintSlow(max uint64, what string) uint64 {
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
		if r.err == nil && v < uintForm[c-codeUint8] {
			r.nonCanonical(at, what)
			return 0
		}
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

// intForm is the largest value each sized signed form may hold, by
// code-codeInt8: larger (closer to zero) values have a shorter form, and
// non-negative values are written as unsigned integers.
var intForm = [4]int64{-32 - 1, math.MinInt8 - 1, math.MinInt16 - 1, math.MinInt32 - 1}

// int reads a signed integer that fits in an int.
func (r *reader) int(what string) int {
	if r.off < len(r.text) {
		if c := r.text[r.off]; c <= 0x7f {
			r.off++
			return int(c)
		}
	}
	return r.intSlow(what)
}

func (r *reader) intSlow(what string) int {
	at := r.off
	c, ok := r.peek()
	if !ok {
		return 0
	}
	var v int64
	switch {
	case c <= 0x7f || (c >= codeUint8 && c <= codeUint64):
		return int(r.uint(math.MaxInt, what))
	case c >= negFixLow:
		r.off++
		v = int64(int8(c))
	case c >= codeInt8 && c <= codeInt64:
		r.off++
		n := 1 << (c - codeInt8)
		u := r.be(n)
		shift := 64 - 8*n
		v = int64(u<<shift) >> shift // sign-extend
		if r.err == nil && v > intForm[c-codeInt8] {
			r.nonCanonical(at, what)
			return 0
		}
	default:
		r.failf(at, "%s: expected an integer, found %s", what, describe(c))
		return 0
	}
	if v < math.MinInt {
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
// are code8 (0: none), code16 and code32. A length that a shorter form
// could have held is refused.
func (r *reader) length(fixLow byte, fixMax int, code8, code16, code32 byte, want, what string) (int, bool) {
	at := r.off
	c, ok := r.peek()
	if !ok {
		return 0, false
	}
	var n, least uint64
	switch {
	case fixMax >= 0 && c >= fixLow && int(c-fixLow) <= fixMax:
		r.off++
		n = uint64(c - fixLow)
	case code8 != 0 && c == code8:
		r.off++
		n, least = r.be(1), uint64(fixMax+1)
	case c == code16:
		r.off++
		n, least = r.be(2), uint64(fixMax+1)
		if code8 != 0 {
			least = math.MaxUint8 + 1
		}
	case c == code32:
		r.off++
		n, least = r.be(4), math.MaxUint16+1
	default:
		r.failf(at, "%s: expected %s, found %s", what, want, describe(c))
		return 0, false
	}
	if r.err != nil {
		return 0, false
	}
	if n < least {
		r.nonCanonical(at, what)
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
	if r.off < len(r.text) {
		if c := r.text[r.off]; c >= fixStrLow && c <= fixStrLow+31 {
			if s, ok := r.cut(1, int(c-fixStrLow)); ok {
				return s
			}
		}
	}
	return r.strSlow(what)
}

func (r *reader) strSlow(what string) string {
	n, ok := r.length(fixStrLow, 31, codeStr8, codeStr16, codeStr32, "a string", what)
	if !ok {
		return ""
	}
	s, _ := r.cut(0, n) // length has checked the n bytes are there
	return s
}

func (r *reader) bin(what string) string {
	if r.off+1 < len(r.text) && r.text[r.off] == codeBin8 {
		if s, ok := r.cut(2, int(r.text[r.off+1])); ok {
			return s
		}
	}
	return r.binSlow(what)
}

func (r *reader) binSlow(what string) string {
	n, ok := r.length(0, -1, codeBin8, codeBin16, codeBin32, "binary data", what)
	if !ok {
		return ""
	}
	s, _ := r.cut(0, n) // length has checked the n bytes are there
	return s
}

// cut returns the n bytes that follow a header of head bytes at r.off and
// moves past them, or reports false, with r unchanged, when the body ends
// first. It sets no error: a fast path that finds the body short falls
// back to its slow path, which reports it.
func (r *reader) cut(head, n int) (string, bool) {
	end := r.off + head + n
	if end > len(r.text) {
		return "", false
	}
	s := r.text[r.off+head : end]
	r.off = end
	return s, true
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

// isNil consumes a msgpack nil if one comes next.
func (r *reader) isNil() bool {
	if r.off < len(r.text) && r.text[r.off] == codeNil {
		r.off++
		return true
	}
	return false
}

// record reads the header of a struct written as an array of its fields,
// which must have exactly fields elements: a struct is always written
// whole, so any other count is corruption (or a newer format).
func (r *reader) record(fields int, what string) bool {
	if r.off < len(r.text) && r.text[r.off] == fixArrayLow+byte(fields) {
		r.off++
		return true
	}
	return r.recordSlow(fields, what)
}

func (r *reader) recordSlow(fields int, what string) bool {
	at := r.off
	c, ok := r.peek()
	if !ok {
		return false
	}
	if c == codeArray16 || c == codeArray32 {
		r.nonCanonical(at, what) // no struct has 16 fields
		return false
	}
	if c < fixArrayLow || c >= fixStrLow {
		r.failf(at, "%s: expected an array of %d fields, found %s", what, fields, describe(c))
		return false
	}
	if n := int(c - fixArrayLow); n != fields {
		r.failf(at, "%s: expected %d fields, found %d", what, fields, n)
		return false
	}
	r.off++
	return true
}
