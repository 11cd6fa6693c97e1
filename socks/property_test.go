package socks

import (
	"bytes"
	"io"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// Generators of valid messages: every value they produce is one the
// encoders accept.

func genBytes(minLen, maxLen int, noNUL bool) *rapid.Generator[string] {
	elem := rapid.Byte()
	if noNUL {
		elem = rapid.ByteRange(1, 255)
	}
	return rapid.Map(rapid.SliceOfN(elem, minLen, maxLen), func(b []byte) string { return string(b) })
}

var (
	genIPv4 = rapid.Map(rapid.SliceOfN(rapid.Byte(), 4, 4), func(b []byte) netip.Addr {
		return netip.AddrFrom4([4]byte(b))
	})
	genIPv6 = rapid.Map(rapid.SliceOfN(rapid.Byte(), 16, 16), func(b []byte) netip.Addr {
		return netip.AddrFrom16([16]byte(b))
	})
	genName = genBytes(1, MaxNameLen, true)
	genPort = rapid.Uint16()

	// genV5Addr draws every ATYP, with names of every length.
	genV5Addr = rapid.Custom(func(t *rapid.T) Addr {
		a := Addr{Port: genPort.Draw(t, "port")}
		switch rapid.IntRange(0, 2).Draw(t, "atyp") {
		case 0:
			a.IP = genIPv4.Draw(t, "ipv4")
		case 1:
			a.IP = genIPv6.Draw(t, "ipv6")
		default:
			a.Name = genName.Draw(t, "name")
		}
		return a
	})

	genV4Request = rapid.Custom(func(t *rapid.T) V4Request {
		req := V4Request{
			Command: rapid.SampledFrom([]V4Command{V4Connect, V4Bind}).Draw(t, "cd"),
			UserID:  genBytes(0, MaxV4UserIDLen, true).Draw(t, "userid"),
			Dst:     Addr{Port: genPort.Draw(t, "port")},
		}
		if rapid.Bool().Draw(t, "4a") {
			req.Dst.Name = genName.Draw(t, "name")
		} else {
			req.Dst.IP = genIPv4.Filter(func(a netip.Addr) bool { return !isV4aPlaceholder(a.As4()) }).Draw(t, "ip")
		}
		return req
	})
	genV4Reply = rapid.Custom(func(t *rapid.T) V4Reply {
		return V4Reply{
			Code:  V4ReplyCode(rapid.Byte().Draw(t, "cd")),
			Bound: Addr{IP: genIPv4.Draw(t, "ip"), Port: genPort.Draw(t, "port")},
		}
	})
	genV5Greeting = rapid.Custom(func(t *rapid.T) V5Greeting {
		methods := rapid.SliceOfN(rapid.Byte(), 1, 255).Draw(t, "methods")
		g := V5Greeting{Methods: make([]Method, len(methods))}
		for i, m := range methods {
			g.Methods[i] = Method(m)
		}
		return g
	})
	genV5Request = rapid.Custom(func(t *rapid.T) V5Request {
		return V5Request{
			Command: rapid.SampledFrom([]V5Command{V5Connect, V5Bind, V5UDPAssociate}).Draw(t, "cmd"),
			Dst:     genV5Addr.Draw(t, "dst"),
		}
	})
	genV5Reply = rapid.Custom(func(t *rapid.T) V5Reply {
		return V5Reply{Code: V5ReplyCode(rapid.Byte().Draw(t, "rep")), Bound: genV5Addr.Draw(t, "bnd")}
	})
	genUserPass = rapid.Custom(func(t *rapid.T) UserPass {
		return UserPass{Username: genBytes(0, 255, false).Draw(t, "user"), Password: genBytes(0, 255, false).Draw(t, "pass")}
	})
	genUDPHeader = rapid.Map(genV5Addr, func(a Addr) UDPHeader { return UDPHeader{Dst: a} })
)

// roundTrip checks Parse(Append(m)) == m with every byte consumed, also
// when random bytes follow the message.
func roundTrip[T any](gen *rapid.Generator[T], appendFn func([]byte, T) ([]byte, error), parse func([]byte) (T, int, error)) func(*rapid.T) {
	return func(t *rapid.T) {
		msg := gen.Draw(t, "msg")
		wire, err := appendFn(nil, msg)
		if err != nil {
			t.Fatalf("append(%+v): %v", msg, err)
		}
		trailer := rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "trailer")
		got, n, err := parse(append(wire[:len(wire):len(wire)], trailer...))
		if err != nil {
			t.Fatalf("parse(append(%+v)) = %v; wire % x", msg, err, wire)
		}
		if n != len(wire) {
			t.Fatalf("parse consumed %d bytes of a %d-byte message", n, len(wire))
		}
		if diff := cmp.Diff(msg, got, addrCmp); diff != "" {
			t.Fatalf("parse(append(m)) != m (-m +got):\n%s", diff)
		}
		if cut := rapid.IntRange(0, len(wire)-1).Draw(t, "cut"); true {
			if _, _, err := parse(wire[:cut]); err != ErrIncomplete {
				t.Fatalf("parse(first %d of %d bytes) = %v, want ErrIncomplete", cut, len(wire), err)
			}
		}
	}
}

// genOctet generates every value of a one-octet field.
func genOctet[T ~uint8]() *rapid.Generator[T] {
	return rapid.Map(rapid.Byte(), func(b byte) T { return T(b) })
}

func noErr[T any](f func([]byte, T) []byte) func([]byte, T) ([]byte, error) {
	return func(b []byte, m T) ([]byte, error) { return f(b, m), nil }
}

func TestRoundTrip(t *testing.T) {
	t.Run("V4Request", func(t *testing.T) { rapid.Check(t, roundTrip(genV4Request, AppendV4Request, ParseV4Request)) })
	t.Run("V4Reply", func(t *testing.T) { rapid.Check(t, roundTrip(genV4Reply, AppendV4Reply, ParseV4Reply)) })
	t.Run("V5Greeting", func(t *testing.T) { rapid.Check(t, roundTrip(genV5Greeting, AppendV5Greeting, ParseV5Greeting)) })
	t.Run("V5MethodChoice", func(t *testing.T) {
		rapid.Check(t, roundTrip(genOctet[Method](), noErr(AppendV5MethodChoice), ParseV5MethodChoice))
	})
	t.Run("V5Request", func(t *testing.T) { rapid.Check(t, roundTrip(genV5Request, AppendV5Request, ParseV5Request)) })
	t.Run("V5Reply", func(t *testing.T) { rapid.Check(t, roundTrip(genV5Reply, AppendV5Reply, ParseV5Reply)) })
	t.Run("UserPass", func(t *testing.T) { rapid.Check(t, roundTrip(genUserPass, AppendUserPass, ParseUserPass)) })
	t.Run("UserPassReply", func(t *testing.T) {
		rapid.Check(t, roundTrip(genOctet[UserPassStatus](), noErr(AppendUserPassReply), ParseUserPassReply))
	})
	t.Run("UDPHeader", func(t *testing.T) { rapid.Check(t, roundTrip(genUDPHeader, AppendUDPHeader, ParseUDPHeader)) })
}

// chunkedReader hands out its data in the chunk sizes it was given, the way
// TCP segments arrive, and counts the Read calls.
type chunkedReader struct {
	data   []byte
	chunks []int
	reads  int
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	c.reads++
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	size := len(c.data)
	if len(c.chunks) > 0 {
		size = max(1, min(size, c.chunks[0]))
		c.chunks = c.chunks[1:]
	}
	n := copy(p, c.data[:size])
	c.data = c.data[n:]
	return n, nil
}

// TestReaderSession replays a SOCKS5 handshake with user/password and a
// pipelined payload, cut into random segments, through buffers of random
// size: every message must come out intact and the payload must be
// delivered exactly, part from Buffered and the rest still unread.
func TestReaderSession(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		greeting := genV5Greeting.Draw(t, "greeting")
		auth := genUserPass.Draw(t, "auth")
		req := genV5Request.Draw(t, "request")
		payload := rapid.SliceOfN(rapid.Byte(), 0, 2048).Draw(t, "payload")

		wire, _ := AppendV5Greeting(nil, greeting)
		wire, _ = AppendUserPass(wire, auth)
		wire, _ = AppendV5Request(wire, req)
		wire = append(wire, payload...)

		src := &chunkedReader{data: wire, chunks: rapid.SliceOfN(rapid.IntRange(1, 600), 0, 20).Draw(t, "chunks")}
		r := NewReader(src, make([]byte, rapid.IntRange(MaxMessageLen, 4096).Draw(t, "bufsize")))

		if v, err := r.PeekVersion(); err != nil || v != Version5 {
			t.Fatalf("PeekVersion = %d, %v", v, err)
		}
		gotGreeting, err := r.ReadV5Greeting()
		if err != nil || !cmp.Equal(gotGreeting, greeting) {
			t.Fatalf("ReadV5Greeting = %+v, %v; want %+v", gotGreeting, err, greeting)
		}
		gotAuth, err := r.ReadUserPass()
		if err != nil || gotAuth != auth {
			t.Fatalf("ReadUserPass = %v, %v; want %v", gotAuth, err, auth)
		}
		gotReq, err := r.ReadV5Request()
		if err != nil || !cmp.Equal(gotReq, req, addrCmp) {
			t.Fatalf("ReadV5Request = %+v, %v; want %+v", gotReq, err, req)
		}
		rest := append(bytes.Clone(r.Buffered()), src.data...)
		if !bytes.Equal(rest, payload) {
			t.Fatalf("Buffered + unread = %d bytes, want the %d-byte payload", len(rest), len(payload))
		}
	})
}

func TestReaderV4Pipelined(t *testing.T) {
	req := V4Request{Command: V4Connect, Dst: Addr{Name: "example.com", Port: 80}, UserID: "alice"}
	wire, err := AppendV4Request(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
	src := &chunkedReader{data: append(wire, payload...)}
	r := NewReader(src, make([]byte, 1024))
	got, err := r.ReadV4Request()
	if err != nil || !cmp.Equal(got, req, addrCmp) {
		t.Fatalf("ReadV4Request = %+v, %v", got, err)
	}
	if !bytes.Equal(r.Buffered(), payload) {
		t.Errorf("Buffered = %q, want the pipelined %q", r.Buffered(), payload)
	}
	// Everything arrived in one segment: one read, never one per byte.
	if src.reads != 1 {
		t.Errorf("the request took %d reads, want 1", src.reads)
	}
}

func TestReaderErrors(t *testing.T) {
	t.Run("EOF before a message", func(t *testing.T) {
		r := NewReader(&chunkedReader{}, make([]byte, 64))
		if _, err := r.ReadV5Greeting(); err != io.EOF {
			t.Errorf("err = %v, want io.EOF", err)
		}
		if _, err := r.PeekVersion(); err != io.EOF {
			t.Errorf("PeekVersion err = %v, want io.EOF", err)
		}
	})
	t.Run("EOF inside a message", func(t *testing.T) {
		r := NewReader(&chunkedReader{data: []byte{5, 1, 0, 1, 127}}, make([]byte, 64))
		if _, err := r.ReadV5Request(); err != io.ErrUnexpectedEOF {
			t.Errorf("err = %v, want io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("data and EOF together", func(t *testing.T) {
		r := NewReader(&eofWithData{data: []byte{5, 1, 0, 5, 1}}, make([]byte, 64))
		g, err := r.ReadV5Greeting()
		if err != nil || len(g.Methods) != 1 {
			t.Fatalf("ReadV5Greeting = %+v, %v", g, err)
		}
		if _, err := r.ReadV5Request(); err != io.ErrUnexpectedEOF {
			t.Errorf("second read err = %v, want io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("buffer too small", func(t *testing.T) {
		wire := append([]byte{4, 1, 0, 80, 1, 2, 3, 4}, bytes.Repeat([]byte{'u'}, 40)...)
		r := NewReader(&chunkedReader{data: append(wire, 0)}, make([]byte, 32))
		if _, err := r.ReadV4Request(); !errorsIs(err, ErrTooLong) {
			t.Errorf("err = %v, want ErrTooLong", err)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		r := NewReader(&chunkedReader{data: []byte{5, 9, 0, 1, 1, 2, 3, 4, 0, 80}}, make([]byte, 64))
		if _, err := r.ReadV5Request(); !errorsIs(err, ErrCommand) {
			t.Errorf("err = %v, want ErrCommand", err)
		}
	})
	t.Run("source without progress", func(t *testing.T) {
		r := NewReader(stalled{}, make([]byte, 64))
		if _, err := r.ReadV5Greeting(); err != io.ErrNoProgress {
			t.Errorf("err = %v, want io.ErrNoProgress", err)
		}
	})
	t.Run("compacts a partial message", func(t *testing.T) {
		// The first read fills the 18-byte buffer with a greeting and the
		// first 15 bytes of an 18-byte request: the Reader must move those
		// to the front to make room for the tail.
		greeting := []byte{5, 1, 0}
		req := append([]byte{5, 1, 0, 3, 11}, "example.org\x00\x50"...)
		r := NewReader(&chunkedReader{data: append(greeting, req...)}, make([]byte, 18))
		if _, err := r.ReadV5Greeting(); err != nil {
			t.Fatal(err)
		}
		got, err := r.ReadV5Request()
		if err != nil || got.Dst.String() != "example.org:80" {
			t.Errorf("ReadV5Request = %+v, %v", got, err)
		}
	})
}

type eofWithData struct{ data []byte }

func (e *eofWithData) Read(p []byte) (int, error) {
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, io.EOF
}

type stalled struct{}

func (stalled) Read([]byte) (int, error) { return 0, nil }
