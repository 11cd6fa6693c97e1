package socks

import (
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzChunks hands out data in the chunk sizes the fuzzer picks (a
// zero size is a read of nothing, as a slow peer may cause). It is slow,
// never broken: after maxEmptyReads-1 empty reads in a row it hands out a
// byte, since a source that keeps returning nothing is one the Reader
// rightly gives up on (io.ErrNoProgress, see property_test.go).
type fuzzChunks struct {
	data   []byte
	chunks []byte
	empty  int // empty reads in a row
}

func (c *fuzzChunks) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.chunks) > 0 {
		n = int(c.chunks[0])
		c.chunks = c.chunks[1:]
	}
	n = min(n, len(p), len(c.data))
	if n == 0 && c.empty == maxEmptyReads-1 {
		n = min(1, len(p))
	}
	if n == 0 {
		c.empty++
	} else {
		c.empty = 0
	}
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// FuzzReaderSession is a differential test of the streaming Reader, which
// the server reads with, against the slice parsers: a SOCKS5 session
// (greeting, RFC 1929 sub-negotiation, request) or a SOCKS4 request
// delivered in arbitrary chunks gives the same messages, the same
// verdicts and the same leftover bytes as parsing the whole input.
func FuzzReaderSession(f *testing.F) {
	f.Add([]byte{4, 1, 0, 80, 127, 0, 0, 1, 'u', 0, 'x'}, []byte{1, 1, 1})
	f.Add(append([]byte{4, 1, 0, 80, 0, 0, 0, 1, 'u', 0}, "host.example\x00GET"...), []byte{3, 0, 200})
	f.Add(append([]byte{5, 1, 2, 1, 5}, "alice\x05right\x05\x01\x00\x03\x04host\x00\x50data"...), []byte{2, 2, 2, 2})
	f.Add([]byte{5, 1, 0, 5, 1, 0, 1, 10, 0, 0, 1, 0, 80}, []byte{})
	f.Add([]byte{5, 2, 0, 2, 5, 3, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 53}, []byte{5, 0, 5})
	f.Fuzz(func(t *testing.T, data, chunks []byte) {
		if len(data) == 0 {
			return
		}
		rd := NewReader(&fuzzChunks{data: data, chunks: chunks}, make([]byte, MaxMessageLen))
		rest := data
		// step reads one message both ways and reports whether to go on.
		step := func(name string, read func() (any, error), parse func([]byte) (any, int, error)) bool {
			got, rerr := read()
			want, n, perr := parse(rest)
			switch {
			case perr == nil:
				if rerr != nil || !cmp.Equal(got, want, addrCmp) {
					t.Fatalf("%s: Reader gave %+v, %v; Parse %+v", name, got, rerr, want)
				}
				rest = rest[n:]
				return true
			case perr == ErrIncomplete:
				if !errors.Is(rerr, io.ErrUnexpectedEOF) && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, ErrTooLong) {
					t.Fatalf("%s: the input ends inside the message, but Reader says %v", name, rerr)
				}
			default:
				for _, sent := range sentinels {
					if errors.Is(perr, sent) && !errors.Is(rerr, sent) {
						t.Fatalf("%s: Parse fails with %v, Reader with %v", name, perr, rerr)
					}
				}
			}
			return false
		}
		wrap := func(f func() (any, error)) func() (any, error) { return f }
		if data[0] == Version4 {
			step("SOCKS4 request", wrap(func() (any, error) { return rd.ReadV4Request() }),
				func(b []byte) (any, int, error) { return ParseV4Request(b) })
		} else {
			ok := step("greeting", wrap(func() (any, error) { return rd.ReadV5Greeting() }),
				func(b []byte) (any, int, error) { return ParseV5Greeting(b) })
			if ok && len(rest) > 0 && rest[0] == UserPassVersion {
				ok = step("RFC 1929", wrap(func() (any, error) { return rd.ReadUserPass() }),
					func(b []byte) (any, int, error) { return ParseUserPass(b) })
			}
			if !ok {
				return
			}
			if !step("request", wrap(func() (any, error) { return rd.ReadV5Request() }),
				func(b []byte) (any, int, error) { return ParseV5Request(b) }) {
				return
			}
		}
		// What the Reader holds beyond the last message is a prefix of
		// what followed it in the input: nothing lost, nothing invented.
		if b := rd.Buffered(); len(b) > len(rest) || string(b) != string(rest[:len(b)]) {
			t.Fatalf("Buffered = % x, the input continues with % x", b, rest)
		}
	})
}
