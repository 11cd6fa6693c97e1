package frozen

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/sockd/sockd/config"
)

// BenchmarkDecodeSockd100k decodes a 100,000-rule sockd.fc: the daemon's
// start-up and reload cost for a very large site. The file-bytes metric
// is the size of the file.
func BenchmarkDecodeSockd100k(b *testing.B) {
	data := mustEncode(b, bigSockd(100_000))
	b.ReportMetric(float64(len(data)), "file-bytes")
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		f, err := Decode(data)
		if err != nil || len(f.Sockd.Rules) != 100_000 {
			b.Fatalf("Decode: %v", err)
		}
	}
}

func BenchmarkEncodeSockd100k(b *testing.B) {
	f := bigSockd(100_000)
	for b.Loop() {
		if _, err := Encode(f); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBigFileRoundTrip checks the generated 100,000-rule file (which the
// benchmark uses) is valid and round-trips.
func TestBigFileRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("large file")
	}
	f := bigSockd(100_000)
	data := mustEncode(t, f)
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Sockd.Rules) != len(f.Sockd.Rules) || got.Sockd.Rules[99_999].Text != f.Sockd.Rules[99_999].Text ||
		got.Sockd.Rules[12_346].Dst != f.Sockd.Rules[12_346].Dst {
		t.Errorf("decoded file differs")
	}
}

// BenchmarkDecodeSockd100kMsgpackDecoder decodes the same file with
// msgpack/v5's streaming Decoder (one Decoder reused over a bytes.Reader,
// no reflection), doing only the decoding: none of the canonical-form
// checks, byte offsets or validation that Decode does, and in one pass
// (Decode splits a large rule list between two goroutines). It is the
// measurement behind keeping the hand-written reader (see wire.go):
// compare it with BenchmarkDecodeSockd100k. In "copy" strings are read
// with DecodeString, which copies each; in "slice" only their headers are
// (DecodeBytesLen), and the string is cut from the body as wire.go does.
func BenchmarkDecodeSockd100kMsgpackDecoder(b *testing.B) {
	data := mustEncode(b, bigSockd(100_000))
	want, err := Decode(data)
	if err != nil {
		b.Fatal(err)
	}
	for _, slice := range []bool{false, true} {
		b.Run(map[bool]string{false: "copy", true: "slice"}[slice], func(b *testing.B) {
			b.ReportMetric(float64(len(data)), "file-bytes")
			b.SetBytes(int64(len(data)))
			text := string(data[HeaderSize:])
			br := strings.NewReader(text)
			r := &mpReader{d: msgpack.NewDecoder(br), text: text, br: br, slice: slice}
			var got *config.SockdConf
			for b.Loop() {
				br.Reset(text)
				r.err = nil
				got = r.sockd()
				if r.err != nil || len(got.Rules) != 100_000 {
					b.Fatalf("msgpack Decoder: %v", r.err)
				}
			}
			if diff := cmp.Diff(want.Sockd, got, cmpAddr); diff != "" {
				b.Fatalf("the msgpack Decoder reads the file differently (-Decode +msgpack):\n%s", diff)
			}
		})
	}
}

// mpReader reads a body through the msgpack/v5 Decoder's calls, keeping
// the first error, as wire.go's reader does.
type mpReader struct {
	d     *msgpack.Decoder
	err   error
	ipBuf [16 + 32]byte
	slice bool            // cut strings from text instead of DecodeString
	text  string          // the body, which br reads
	br    *strings.Reader // d's reader, used directly (no buffering) as it is an io.ByteScanner
}

func (r *mpReader) check(err error) {
	if err != nil && r.err == nil {
		r.err = err
	}
}

func (r *mpReader) arr() int { n, err := r.d.DecodeArrayLen(); r.check(err); return n }
func (r *mpReader) str() string {
	if !r.slice {
		s, err := r.d.DecodeString()
		r.check(err)
		return s
	}
	n, err := r.d.DecodeBytesLen()
	r.check(err)
	off := len(r.text) - r.br.Len()
	if n <= 0 || off+n > len(r.text) {
		return ""
	}
	_, err = r.br.Seek(int64(n), io.SeekCurrent)
	r.check(err)
	return r.text[off : off+n]
}
func (r *mpReader) u8() uint8 { v, err := r.d.DecodeUint8(); r.check(err); return v }
func (r *mpReader) int() int  { v, err := r.d.DecodeInt(); r.check(err); return v }

func (r *mpReader) ip() netip.Addr {
	n, err := r.d.DecodeBytesLen()
	r.check(err)
	if n < 0 || n > len(r.ipBuf) {
		r.check(fmt.Errorf("address of %d bytes", n))
		return netip.Addr{}
	}
	b := r.ipBuf[:n]
	r.check(r.d.ReadFull(b))
	switch n {
	case 0:
		return netip.Addr{}
	case 4:
		return netip.AddrFrom4([4]byte(b))
	case 16:
		return netip.AddrFrom16([16]byte(b))
	}
	var a netip.Addr
	r.check(a.UnmarshalBinary(b))
	return a
}

func (r *mpReader) pos(p *config.Pos) {
	r.arr()
	p.Line, p.Col = r.int(), r.int()
}

func (r *mpReader) addr(a *config.Addr) {
	r.arr()
	a.Kind = config.AddrKind(r.u8())
	a.IP = r.ip()
	a.Mask = r.ip()
	v, err := r.d.DecodeBool()
	r.check(err)
	a.CIDR = v
	a.Pattern = r.str()
}

func (r *mpReader) special() *config.Special {
	if n := r.arr(); n < 0 {
		return nil
	}
	s := &config.Special{}
	r.pos(&s.Pos)
	s.Command, s.Text = r.str(), r.str()
	return s
}

// sockd reads a sockd.fc body as wire.go and codec.go read it, but
// through the msgpack/v5 Decoder's calls.
func (r *mpReader) sockd() *config.SockdConf {
	d := r.d
	r.arr() // body
	r.arr() // meta
	r.str()
	r.str()
	r.str()
	r.arr()
	c := &config.SockdConf{Source: r.str()}
	if n := r.arr(); n >= 0 && r.err == nil {
		c.Rules = make([]config.Rule, n)
		for i := range c.Rules {
			x := &c.Rules[i]
			r.arr()
			r.pos(&x.Pos)
			x.Action = config.Action(r.u8())
			x.Ident = config.Ident(r.u8())
			if n := r.arr(); n >= 0 {
				x.Users = make([]string, n)
				for j := range x.Users {
					x.Users[j] = r.str()
				}
			}
			r.addr(&x.Src)
			r.addr(&x.Dst)
			r.arr()
			x.Port.Op = config.PortOp(r.u8())
			p, err := d.DecodeUint16()
			r.check(err)
			x.Port.Port = p
			x.Port.Service = r.str()
			x.Command, x.Text = r.str(), r.str()
			if r.err != nil {
				break
			}
		}
	}
	c.NoIdentd = r.special()
	c.BadID = r.special()
	r.check(d.DecodeNil())
	r.check(d.DecodeNil())
	return c
}
