package socks

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Every fuzz target checks: no panic; an error is ErrIncomplete or wraps a
// sentinel; a parsed message occupies a prefix of the input, parses the
// same from that prefix alone, and re-encodes to exactly those bytes (after
// normalising what the format leaves free, noted where it applies).

var sentinels = []error{ErrVersion, ErrCommand, ErrAddrType, ErrReserved, ErrNoMethods, ErrBadName, ErrTooLong, ErrFragmented}

func checkFuzzError(t *testing.T, in []byte, err error) {
	t.Helper()
	if err == ErrIncomplete {
		return
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("parse(% x) returned an unexpected error %v", in, err)
}

func fuzzCodec[T any](f *testing.F, seeds [][]byte, parse func([]byte) (T, int, error),
	appendFn func([]byte, T) ([]byte, error), canonical func(in []byte) []byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		msg, n, err := parse(in)
		if err != nil {
			checkFuzzError(t, in, err)
			if n != 0 {
				t.Fatalf("n = %d on error", n)
			}
			return
		}
		if n <= 0 || n > len(in) {
			t.Fatalf("n = %d for %d bytes", n, len(in))
		}
		again, n2, err := parse(in[:n])
		if err != nil || n2 != n || !cmp.Equal(again, msg, addrCmp) {
			t.Fatalf("the message alone parses as %+v, %d, %v; with what follows as %+v, %d", again, n2, err, msg, n)
		}
		wire, err := appendFn(nil, msg)
		if err != nil {
			t.Fatalf("append(%+v) of a parsed message: %v", msg, err)
		}
		want := in[:n]
		if canonical != nil {
			want = canonical(bytes.Clone(want))
		}
		if !bytes.Equal(wire, want) {
			t.Fatalf("re-encoded % x, want % x", wire, want)
		}
	})
}

func FuzzParseV4Request(f *testing.F) {
	seeds := [][]byte{
		{4, 1, 0, 80, 10, 0, 0, 1, 'a', 'l', 'i', 'c', 'e', 0},
		{4, 2, 0, 21, 0, 0, 0, 0, 0},
		append([]byte{4, 1, 1, 187, 0, 0, 0, 1, 'b', 'o', 'b', 0}, "example.com\x00GET /"...),
		append([]byte{4, 1, 0, 1, 0, 0, 0, 200, 0}, "h\x00"...),
		{4, 1, 0, 1, 0, 0, 0, 1, 0, 0},
		append([]byte{4, 1, 0, 80, 1, 2, 3, 4}, bytes.Repeat([]byte{'x'}, 300)...),
		{5, 1, 0},
		{4, 3},
	}
	fuzzCodec(f, seeds, ParseV4Request, AppendV4Request, func(in []byte) []byte {
		// SOCKS4a: any 0.0.0.x placeholder means "a name follows";
		// AppendV4Request always writes 0.0.0.1.
		if isV4aPlaceholder([4]byte(in[4:8])) {
			in[7] = 1
		}
		return in
	})
}

func FuzzParseV5Greeting(f *testing.F) {
	seeds := [][]byte{{5, 1, 0}, {5, 2, 0, 2}, {5, 0}, {4, 1, 0}, {5, 3, 0, 1}}
	fuzzCodec(f, seeds, ParseV5Greeting, AppendV5Greeting, nil)
}

func FuzzParseV5Request(f *testing.F) {
	seeds := [][]byte{
		{5, 1, 0, 1, 127, 0, 0, 1, 0, 80},
		append([]byte{5, 1, 0, 3, 11}, "example.com\x01\xbbdata"...),
		append([]byte{5, 2, 0, 4}, make([]byte, 18)...),
		{5, 3, 0, 1, 0, 0, 0, 0, 0, 0},
		{5, 1, 0, 3, 0, 0, 80},
		{5, 1, 0, 3, 2, 0, 'a', 0, 80},
		{5, 7, 0, 1},
		{5, 1, 1, 1},
		{5, 1, 0, 9},
	}
	fuzzCodec(f, seeds, ParseV5Request, AppendV5Request, nil)
}

func FuzzParseV5Reply(f *testing.F) {
	seeds := [][]byte{
		{5, 0, 0, 1, 127, 0, 0, 1, 4, 56},
		{5, 7, 0, 1, 0, 0, 0, 0, 0, 0},
		append([]byte{5, 0, 0, 3, 4}, "host\x00\x01"...),
		append([]byte{5, 0, 0, 4}, make([]byte, 18)...),
		{5, 0, 3},
	}
	fuzzCodec(f, seeds, ParseV5Reply, AppendV5Reply, nil)
}

func FuzzParseUserPass(f *testing.F) {
	seeds := [][]byte{
		append([]byte{1, 5}, "alice\x06s3cret"...),
		{1, 0, 0},
		{1, 4, 'c', 'u', 'r', 'l', 0},
		{1, 255, 'x'},
		{5, 1, 0},
	}
	fuzzCodec(f, seeds, ParseUserPass, AppendUserPass, nil)
}

func FuzzParseUDPHeader(f *testing.F) {
	seeds := [][]byte{
		{0, 0, 0, 1, 8, 8, 8, 8, 0, 53, 'q'},
		append([]byte{0, 0, 0, 3, 7}, "ntp.lan\x00\x7bpayload"...),
		append([]byte{0, 0, 0, 4}, make([]byte, 18)...),
		{0, 0, 1, 1, 8, 8, 8, 8, 0, 53},
		{0, 1, 0},
	}
	fuzzCodec(f, seeds, ParseUDPHeader, AppendUDPHeader, nil)
}
