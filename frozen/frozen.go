// Package frozen reads and writes the frozen files: sockd.fc (compiled
// sockd.conf server rules), sockd.fr (compiled sockd.route routes) and
// socks.fc (compiled socks.conf client rules).
//
// SOCKS 4.3 froze its configuration as a raw memory image: native ints,
// pointer-sized fields and compiler padding, with no magic, version or
// checksum, so a file from another build was silently misread. These files
// replace that with a portable, checked and reproducible container. The CLI
// (make_* and dump_*), the daemon and the simulator all go through this
// package, so they agree on what a valid file is.
//
// # Format, version 2
//
// All integers in the header are big-endian.
//
//	offset  size  field
//	0       8     magic: "SOCKDFC\x00" (sockd.fc), "SOCKDFR\x00" (sockd.fr)
//	              or "SOCKSFC\x00" (socks.fc)
//	8       4     format version, uint32: 2
//	12      8     body length in bytes, uint64
//	20      32    SHA-256 of bytes 0..19 (magic, version, length) followed
//	              by the body: everything in the file except this field
//	52      n     body
//
// Nothing may follow the body. The body is one MessagePack value, the
// encoding of this Go struct with github.com/vmihailenco/msgpack/v5,
// UseCompactInts(true) and UseArrayEncodedStructs(true):
//
//	struct {
//	    Meta  Meta              // [source, source_sha256, compiler]
//	    Sockd *config.SockdConf // sockd.fc only, else nil
//	    Route *config.RouteConf // sockd.fr only, else nil
//	    Socks *config.SocksConf // socks.fc only, else nil
//	}
//
// Every struct is an array of all its fields in Go field order, without
// names: a reader finds a field by its position, which is what makes a
// 100,000-rule file quick to load. A nil pointer or slice is nil, an empty
// slice an empty array; netip.Addr values are binary data holding
// netip.Addr.MarshalBinary (0, 4, or 16 bytes plus the zone). There are no
// Go maps and no timestamps, so the same input always gives the same bytes.
//
// Version 1 wrote each struct as a map keyed by field name. A version-1
// file is refused (ErrVersion) with a message saying to rebuild it: a
// frozen file that cannot be read never silently gives way to another
// configuration.
//
// The encoding is canonical: the reader accepts only the shortest form of
// every integer and length, exactly the field count of every struct, and
// nothing after the body. So Encode(Decode(x)) == x for every file Decode
// accepts, and two files hold the same configuration exactly when they are
// byte-identical. A writer that adds a field must raise the format version.
//
// # How the body is written and read
//
// Not by reflection: msgpack/v5's reflective decoder costs several
// allocations per rule and would accept non-canonical input, and its map
// form (version 1) dropped every `omitempty` netip.Addr, which it
// considers empty. The writer is msgpack/v5's streaming Encoder
// (EncodeArrayLen, EncodeString, EncodeUint, ...), called field by field
// in codec.go. The reader is a small hand-written MessagePack reader
// (wire.go), kept because msgpack/v5's Decoder cannot refuse non-canonical
// forms or name the offset of a fault, and copies every string: with it,
// the 100,000-rule benchmark file makes about 400,000 allocations instead
// of about 50 and loads markedly slower (BenchmarkDecodeSockd100kMsgpackDecoder;
// figures in docs/frozen-codec.md). The reader's strings are slices of the
// file's text, and user lists share backing arrays. msgpack/v5's
// reflective Marshal and Unmarshal remain a test oracle: the tests check
// that they write exactly this package's bytes and read its bodies into
// the same values.
//
// # What a reader checks
//
// In order: the magic (ErrNotFrozen), the kind when one is wanted
// (ErrWrongKind), the version (ErrVersion), the header and body lengths
// (ErrTruncated; trailing bytes are ErrCorrupt), the checksum
// (ErrChecksum), then the body: its MessagePack structure and canonical
// form, and the values (unknown enum values, an IP and mask of different
// families, a payload that does not match the kind, ...), all ErrCorrupt.
// A file is returned whole or not at all. No allocation is sized from a
// length field before that length has been checked against the data that
// is actually there.
package frozen

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/gcpause"
)

// FormatVersion is the version this build writes and the only one it reads.
const FormatVersion = 2

// HeaderSize is the size of the fixed header that precedes the body.
const HeaderSize = 52

const (
	magicLen     = 8
	versionEnd   = magicLen + 4   // end of the version field
	lengthEnd    = versionEnd + 8 // end of the body length field
	checksumEnd  = lengthEnd + 32 // end of the checksum: HeaderSize
	magicsInText = "SOCKDFC/SOCKDFR/SOCKSFC"
)

// Kind says which of the three frozen files a file is.
type Kind uint8

// The zero Kind is invalid, so that a File whose Kind was never set cannot
// be written.
const (
	KindSockdFC Kind = iota + 1 // sockd.fc: compiled sockd.conf
	KindSockdFR                 // sockd.fr: compiled sockd.route
	KindSocksFC                 // socks.fc: compiled socks.conf
)

var kindInfo = [...]struct {
	magic, name, payload, maker string
}{
	KindSockdFC: {"SOCKDFC\x00", "sockd.fc rule file", "sockd", "make_sockdfc"},
	KindSockdFR: {"SOCKDFR\x00", "sockd.fr route file", "route", "make_sockdfr"},
	KindSocksFC: {"SOCKSFC\x00", "socks.fc client rule file", "socks", "make_socksfc"},
}

func (k Kind) valid() bool { return k >= KindSockdFC && k <= KindSocksFC }

// String names the kind as messages do: "sockd.fr route file".
func (k Kind) String() string {
	if !k.valid() {
		return fmt.Sprintf("frozen file of unknown kind %d", uint8(k))
	}
	return kindInfo[k].name
}

// Magic returns the 8 bytes that start a file of this kind.
func (k Kind) Magic() []byte {
	if !k.valid() {
		return nil
	}
	return []byte(kindInfo[k].magic)
}

func (k Kind) payloadKey() string { return kindInfo[k].payload }

// Meta describes where a frozen file came from. It holds no time, so that
// builds are reproducible.
type Meta struct {
	// Source is the text file's name as given to the compiler; "" (or "-")
	// when it was read from standard input.
	Source string `msgpack:"source"`
	// SourceSHA256 is HashSource of the text file's bytes; it may be empty
	// only when Source is.
	SourceSHA256 string `msgpack:"source_sha256"`
	// Compiler names the tool and version that wrote the file, such as
	// "sockd-toolchain 0.1.0".
	Compiler string `msgpack:"compiler"`
}

// File is a decoded frozen file, or one to encode. Exactly the payload
// that matches Kind is set.
type File struct {
	Kind Kind
	// Version is the format version: Decode sets FormatVersion; Encode
	// accepts 0 (meaning FormatVersion) or FormatVersion.
	Version int
	// Checksum is the header's checksum field as Decode verified it: the
	// SHA-256 of the whole file except that field. Encode ignores it.
	Checksum [32]byte
	Meta     Meta
	Sockd    *config.SockdConf // KindSockdFC
	Route    *config.RouteConf // KindSockdFR
	Socks    *config.SocksConf // KindSocksFC
}

// The sentinel errors. Every error from Decode, DecodeKind and ReadFile
// that is about the content matches exactly one of them with errors.Is;
// the error's text says precisely what is wrong.
var (
	ErrNotFrozen = errors.New("not a frozen file")
	ErrWrongKind = errors.New("wrong kind of frozen file")
	ErrVersion   = errors.New("unsupported frozen file version")
	ErrTruncated = errors.New("frozen file is truncated")
	ErrChecksum  = errors.New("frozen file checksum mismatch")
	ErrCorrupt   = errors.New("frozen file is corrupt")
	// ErrInvalid is returned by Encode for a File it must not write.
	ErrInvalid = errors.New("cannot encode frozen file")
)

// formatError carries a precise message and the sentinel it belongs to.
type formatError struct {
	sentinel error
	msg      string
}

func (e *formatError) Error() string { return e.msg }
func (e *formatError) Unwrap() error { return e.sentinel }

func errorf(sentinel error, format string, args ...any) error {
	return &formatError{sentinel: sentinel, msg: fmt.Sprintf(format, args...)}
}

// KindOf reports the kind named by the magic at the start of data.
func KindOf(data []byte) (Kind, bool) {
	if len(data) < magicLen {
		return 0, false
	}
	for k := KindSockdFC; k <= KindSocksFC; k++ {
		if string(data[:magicLen]) == kindInfo[k].magic {
			return k, true
		}
	}
	return 0, false
}

// IsFrozen reports whether data starts with the magic of a frozen file, so
// that tools can accept a text or a frozen file by content, whatever its
// name.
func IsFrozen(data []byte) bool {
	_, ok := KindOf(data)
	return ok
}

// checksum computes the header's checksum field for a file whose first
// lengthEnd header bytes and body are given.
func checksum(head, body []byte) [32]byte {
	h := sha256.New()
	h.Write(head[:lengthEnd])
	h.Write(body)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// Encode returns the bytes of f as a frozen file. It refuses (with
// ErrInvalid) a File that Decode would refuse: an unknown kind, a missing
// or extra payload, or impossible values.
func Encode(f *File) ([]byte, error) {
	if f == nil {
		return nil, errorf(ErrInvalid, "frozen: cannot encode a nil File")
	}
	if !f.Kind.valid() {
		return nil, errorf(ErrInvalid, "frozen: cannot encode a %s", f.Kind)
	}
	if f.Version != 0 && f.Version != FormatVersion {
		return nil, errorf(ErrInvalid, "frozen: cannot write format version %d (this build writes version %d)", f.Version, FormatVersion)
	}
	b := &body{Meta: f.Meta, Sockd: f.Sockd, Route: f.Route, Socks: f.Socks}
	if err := validate(f.Kind, b, false); err != nil {
		return nil, errorf(ErrInvalid, "frozen: cannot encode %s: %v", f.Kind, err)
	}
	return encodeFile(f.Kind, b), nil
}

func encodeFile(k Kind, b *body) []byte {
	w := writer{buf: make([]byte, HeaderSize, HeaderSize+sizeHint(b))}
	w.encodeBody(b)
	out := w.buf
	copy(out, kindInfo[k].magic)
	binary.BigEndian.PutUint32(out[magicLen:], FormatVersion)
	binary.BigEndian.PutUint64(out[versionEnd:], uint64(len(out)-HeaderSize))
	sum := checksum(out, out[HeaderSize:])
	copy(out[lengthEnd:checksumEnd], sum[:])
	return out
}

// sizeHint estimates the size of a body from its strings, so that
// encoding a large file does not copy its buffer a dozen times as it grows.
func sizeHint(b *body) int {
	const perEntry = 128 // keys, numbers and addresses of one rule or route
	n := 256
	if c := b.Sockd; c != nil {
		for i := range c.Rules {
			r := &c.Rules[i]
			n += perEntry + len(r.Text) + len(r.Command) + len(r.Src.Pattern) + len(r.Dst.Pattern) + len(r.Port.Service)
			for _, u := range r.Users {
				n += len(u) + 1
			}
		}
	}
	if c := b.Route; c != nil {
		for i := range c.Routes {
			n += perEntry + len(c.Routes[i].Text) + len(c.Routes[i].Dst.Pattern)
		}
	}
	if c := b.Socks; c != nil {
		for i := range c.Rules {
			r := &c.Rules[i]
			n += perEntry + len(r.Text) + len(r.Command) + len(r.Dst.Pattern) + len(r.Port.Service) + 32*len(r.Servers)
			for _, u := range r.Users {
				n += len(u) + 1
			}
		}
	}
	return n
}

// DecodeKind decodes data as Decode does, and also refuses a frozen file
// of another kind than want, naming both.
func DecodeKind(data []byte, want Kind) (*File, error) {
	if err := checkKind(data, want); err != nil {
		return nil, err
	}
	return Decode(data)
}

// DecodeKindString is DecodeKind for a file already held as a string; the
// File's strings are slices of data, so nothing is copied.
func DecodeKindString(data string, want Kind) (*File, error) {
	if err := checkKind(data, want); err != nil {
		return nil, err
	}
	return DecodeString(data)
}

func checkKind[T ~string | ~[]byte](data T, want Kind) error {
	if !want.valid() {
		return fmt.Errorf("frozen: cannot decode a %s", want)
	}
	if k, ok := KindOf([]byte(data[:min(len(data), magicLen)])); ok && k != want {
		return errorf(ErrWrongKind, "this is a %s, not a %s", k, want)
	}
	return nil
}

// Decode checks and decodes a frozen file of any kind. The data is not
// retained: the File's strings share one copy of the body.
func Decode(data []byte) (*File, error) {
	if err := checkHeader(data); err != nil {
		return nil, err
	}
	return decodeChecked(string(data))
}

// DecodeString is Decode for a file already held as a string, as
// ReadFileString reads it: the File's strings are slices of data, so a
// large file is neither copied nor held twice.
func DecodeString(data string) (*File, error) {
	if err := checkHeader(data); err != nil {
		return nil, err
	}
	return decodeChecked(data)
}

// checkHeader checks everything about data but the checksum and the body.
func checkHeader[T ~string | ~[]byte](data T) error {
	k, ok := KindOf([]byte(data[:min(len(data), magicLen)]))
	if !ok {
		if len(data) > 0 && len(data) < magicLen && isMagicPrefix([]byte(data)) {
			return errorf(ErrTruncated, "file is truncated: the header needs %d bytes, found %d", HeaderSize, len(data))
		}
		return errorf(ErrNotFrozen, "not a frozen file (no %s magic); is it a text config?", magicsInText)
	}
	// The version comes before every other check: another version may lay
	// out the rest of its header differently.
	if len(data) < versionEnd {
		return errorf(ErrTruncated, "file is truncated: the header needs %d bytes, found %d", HeaderSize, len(data))
	}
	var head [HeaderSize]byte
	copy(head[:], data[:min(len(data), HeaderSize)])
	if v := binary.BigEndian.Uint32(head[magicLen:]); v != FormatVersion {
		return errorf(ErrVersion, "format version %d is not supported (this build reads version %d); rebuild it with %s",
			v, FormatVersion, kindInfo[k].maker)
	}
	if len(data) < HeaderSize {
		return errorf(ErrTruncated, "file is truncated: the header needs %d bytes, found %d", HeaderSize, len(data))
	}
	bodyLen := binary.BigEndian.Uint64(head[versionEnd:])
	have := uint64(len(data) - HeaderSize)
	switch {
	case bodyLen > have:
		return errorf(ErrTruncated, "file is truncated: header says %d bytes of body, found %d", bodyLen, have)
	case bodyLen < have:
		return errorf(ErrCorrupt, "file has %d bytes after its body", have-bodyLen)
	}
	return nil
}

// PeekMeta returns the Meta of a frozen file without checking the file: no
// checksum, no decoding beyond the metadata, which comes first. It lets a
// caller start work that needs only the metadata, such as CheckStale,
// while Decode runs; what it returns must not be trusted unless Decode
// then accepts the file and returns the same Meta.
func PeekMeta(data string) (Meta, bool) {
	if checkHeader(data) != nil {
		return Meta{}, false
	}
	r := newReader(data[HeaderSize:])
	var m Meta
	r.head(&m)
	return m, r.err == nil
}

// decodeChecked verifies the checksum of a file whose header checkHeader
// accepted, and decodes its body.
func decodeChecked(data string) (*File, error) {
	k, _ := KindOf([]byte(data[:magicLen]))
	var want [32]byte
	copy(want[:], data[lengthEnd:checksumEnd])
	bodyText := data[HeaderSize:]
	// The checksum and the decoding each take a good part of a large
	// file's load time: they run side by side, and the checksum's verdict
	// comes first, so a damaged file is still reported as damaged. The
	// decoder is safe on any bytes (it is fuzzed), damaged or not.
	var b *body
	var err error
	if len(bodyText) < parallelDecodeMin {
		if checksumString(data) != want {
			return nil, errorf(ErrChecksum, "checksum mismatch: file is damaged")
		}
		b, err = decodeBody(k, bodyText)
	} else {
		sumOK := make(chan bool, 1)
		go func() { sumOK <- checksumString(data) == want }()
		endPause := gcpause.Start() // see package gcpause for why
		b, err = decodeBody(k, bodyText)
		endPause()
		if !<-sumOK {
			return nil, errorf(ErrChecksum, "checksum mismatch: file is damaged")
		}
	}
	if err != nil {
		return nil, errorf(ErrCorrupt, "corrupt body: %v", err)
	}
	return &File{Kind: k, Version: FormatVersion, Checksum: want, Meta: b.Meta, Sockd: b.Sockd, Route: b.Route, Socks: b.Socks}, nil
}

// checksumString computes the header's checksum field of a whole file
// held as a string. SHA-256 takes bytes: the body goes through a small
// buffer, which costs far less than a copy of a large file would.
func checksumString(data string) [32]byte {
	h := sha256.New()
	var buf [32 << 10]byte
	h.Write(buf[:copy(buf[:], data[:lengthEnd])])
	for rest := data[HeaderSize:]; len(rest) > 0; {
		n := copy(buf[:], rest)
		h.Write(buf[:n])
		rest = rest[n:]
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// parallelDecodeMin is the body size from which the checksum runs beside
// the decoding: below it a goroutine costs more than it saves.
const parallelDecodeMin = 1 << 20

func isMagicPrefix(data []byte) bool {
	for k := KindSockdFC; k <= KindSocksFC; k++ {
		if bytes.HasPrefix([]byte(kindInfo[k].magic), data) {
			return true
		}
	}
	return false
}

// decodeBody decodes and validates a body whose checksum has been (or is
// being) verified. The reader accepts only the shortest encoding of every
// value and every field of every struct, so a body it accepts is exactly
// the encoding of what it decoded: two files hold the same configuration
// only when they are byte-identical.
func decodeBody(k Kind, data string) (*body, error) {
	r := newReader(data)
	b := r.body()
	if r.err != nil {
		return nil, r.err
	}
	if r.left() > 0 {
		return nil, fmt.Errorf("%d bytes follow the body's MessagePack value", r.left())
	}
	if err := validate(k, b, true); err != nil {
		return nil, err
	}
	return b, nil
}
