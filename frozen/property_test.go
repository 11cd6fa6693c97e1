package frozen

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"

	"github.com/sockd/sockd/config"
)

// Generators of valid configurations, covering every field and the edges
// of every encoding (long strings, big line numbers, zoned addresses).

var (
	genText = rapid.OneOf(rapid.StringMatching(`[ -~]{0,40}`), rapid.StringN(0, 300, -1).Filter(func(s string) bool {
		return !bytes.ContainsRune([]byte(s), '\n')
	}))
	genWord = rapid.StringMatching(`[a-z/][a-z0-9._/-]{0,20}`)
	genPos  = rapid.Custom(func(t *rapid.T) config.Pos {
		return config.Pos{Line: rapid.IntRange(0, 1<<40).Draw(t, "line"), Col: rapid.IntRange(0, 70000).Draw(t, "col")}
	})
	genIP = rapid.Custom(func(t *rapid.T) netip.Addr {
		var b [16]byte
		copy(b[:], rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "ip"))
		switch rapid.IntRange(0, 2).Draw(t, "family") {
		case 0:
			return netip.AddrFrom4([4]byte(b[:4]))
		case 1:
			return netip.AddrFrom16(b)
		}
		return netip.AddrFrom16(b).WithZone(rapid.StringMatching(`[a-z0-9]{1,12}`).Draw(t, "zone"))
	})
	genAddr = rapid.Custom(func(t *rapid.T) config.Addr {
		switch rapid.IntRange(0, 2).Draw(t, "kind") {
		case 0:
			return config.Addr{}
		case 1:
			a := genIP.Draw(t, "ip")
			bits := rapid.IntRange(0, a.BitLen()).Draw(t, "bits")
			mask := netip.PrefixFrom(a, bits).Masked().Addr()
			var m [16]byte
			for i := 0; i < bits; i++ {
				m[i/8] |= 0x80 >> (i % 8)
			}
			if a.Is4() {
				mask = netip.AddrFrom4([4]byte(m[:4]))
			} else {
				mask = netip.AddrFrom16(m)
			}
			cidr := rapid.Bool().Draw(t, "cidr")
			if !cidr && rapid.Bool().Draw(t, "scramble") {
				// any mask, contiguous or not, of the same family
				mask = genIP.Filter(func(x netip.Addr) bool { return x.Is4() == a.Is4() && x.Zone() == "" }).Draw(t, "mask")
			}
			return config.Addr{Kind: config.AddrMask, IP: a, Mask: mask, CIDR: cidr}
		}
		x := config.Addr{Kind: config.AddrPattern, Pattern: rapid.StringMatching(`ALL|\.?[a-z0-9.-]{1,40}`).Draw(t, "pattern")}
		if rapid.Bool().Draw(t, "ignored mask") {
			x.Mask = genIP.Draw(t, "mask")
		}
		return x
	})
	genPort = rapid.Custom(func(t *rapid.T) config.PortTest {
		op := config.PortOp(rapid.IntRange(0, int(config.OpGE)).Draw(t, "op"))
		if op == config.OpNone {
			return config.PortTest{}
		}
		p := config.PortTest{Op: op, Port: rapid.Uint16().Draw(t, "port")}
		if rapid.Bool().Draw(t, "named") {
			p.Service = genWord.Draw(t, "service")
		}
		return p
	})
	genUsers = rapid.Custom(func(t *rapid.T) []string {
		if rapid.Bool().Draw(t, "everyone") {
			return nil
		}
		return rapid.SliceOfN(genWord, 1, 20).Draw(t, "users")
	})
	genSpecial = rapid.Custom(func(t *rapid.T) *config.Special {
		if rapid.Bool().Draw(t, "absent") {
			return nil
		}
		return &config.Special{Pos: genPos.Draw(t, "pos"), Command: genText.Draw(t, "cmd"), Text: genText.Draw(t, "text")}
	})
	genMeta = rapid.Custom(func(t *rapid.T) Meta {
		src := rapid.StringMatching(`(/etc/)?[a-z.]{0,12}`).Draw(t, "source")
		m := Meta{Source: src, Compiler: genText.Draw(t, "compiler")}
		if src != "" || rapid.Bool().Draw(t, "hash without source") {
			m.SourceSHA256 = HashSource([]byte(genText.Draw(t, "text")))
		}
		return m
	})
	genFile = rapid.Custom(func(t *rapid.T) *File {
		f := &File{Meta: genMeta.Draw(t, "meta"), Kind: Kind(rapid.IntRange(1, 3).Draw(t, "kind"))}
		nilOrEmpty := func(n int) bool { return n == 0 && rapid.Bool().Draw(t, "nil list") }
		switch f.Kind {
		case KindSockdFC:
			rules := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) config.Rule {
				return config.Rule{
					Pos: genPos.Draw(t, "pos"), Action: config.Action(rapid.IntRange(0, 1).Draw(t, "act")),
					Ident: config.Ident(rapid.IntRange(0, 3).Draw(t, "ident")), Users: genUsers.Draw(t, "users"),
					Src: genAddr.Draw(t, "src"), Dst: genAddr.Draw(t, "dst"), Port: genPort.Draw(t, "port"),
					Command: genText.Draw(t, "cmd"), Text: genText.Draw(t, "text"),
				}
			}), 0, 20).Draw(t, "rules")
			if nilOrEmpty(len(rules)) {
				rules = nil
			}
			f.Sockd = &config.SockdConf{Source: genText.Draw(t, "src"), Rules: rules,
				NoIdentd: genSpecial.Draw(t, "noident"), BadID: genSpecial.Draw(t, "badid")}
		case KindSockdFR:
			routes := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) config.Route {
				return config.Route{Pos: genPos.Draw(t, "pos"), If: genIP.Draw(t, "if"), Dst: genAddr.Draw(t, "dst"), Text: genText.Draw(t, "text")}
			}), 0, 20).Draw(t, "routes")
			if nilOrEmpty(len(routes)) {
				routes = nil
			}
			f.Route = &config.RouteConf{Source: genText.Draw(t, "src"), Routes: routes}
		case KindSocksFC:
			rules := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) config.ClientRule {
				r := config.ClientRule{
					Pos: genPos.Draw(t, "pos"), Action: config.ClientAction(rapid.IntRange(0, 2).Draw(t, "act")),
					Users: genUsers.Draw(t, "users"), Dst: genAddr.Draw(t, "dst"), Port: genPort.Draw(t, "port"),
					Command: genText.Draw(t, "cmd"), Text: genText.Draw(t, "text"),
				}
				if r.Action == config.ClientSockd && rapid.Bool().Draw(t, "servers") {
					r.Servers = rapid.SliceOfN(rapid.Custom(func(t *rapid.T) config.Server {
						return config.Server{
							Scheme: rapid.SampledFrom(knownSchemes).Draw(t, "scheme"), Host: genWord.Draw(t, "host"),
							Port: rapid.Uint16Range(1, 65535).Draw(t, "port"), URL: rapid.Bool().Draw(t, "url"),
						}
					}), 1, 5).Draw(t, "servers")
				}
				return r
			}), 0, 20).Draw(t, "rules")
			if nilOrEmpty(len(rules)) {
				rules = nil
			}
			f.Socks = &config.SocksConf{Source: genText.Draw(t, "src"), Rules: rules}
		}
		return f
	})
)

// TestPropertyRoundTrip: for any valid configuration, decoding the
// encoding gives it back, re-encoding gives the same bytes, and msgpack/v5
// reads the body into the same values.
func TestPropertyRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := genFile.Draw(t, "file")
		data, err := Encode(f)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		got, err := DecodeKind(data, f.Kind)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		want := *f
		want.Version = FormatVersion
		want.Checksum = [32]byte(data[lengthEnd:checksumEnd])
		if diff := cmp.Diff(&want, got, cmpAddr); diff != "" {
			t.Fatalf("round trip differs (-want +got):\n%s", diff)
		}
		if again, _ := Encode(got); !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs")
		}
		var b body
		if err := msgpack.Unmarshal(data[HeaderSize:], &b); err != nil {
			t.Fatalf("msgpack/v5 cannot read the body: %v", err)
		}
		if diff := cmp.Diff(body{Meta: f.Meta, Sockd: f.Sockd, Route: f.Route, Socks: f.Socks}, b, cmpAddr); diff != "" {
			t.Fatalf("msgpack/v5 reads the body differently (-want +got):\n%s", diff)
		}
	})
}
