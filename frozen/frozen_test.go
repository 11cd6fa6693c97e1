package frozen

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/sockd/sockd/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var sentinels = []error{ErrNotFrozen, ErrWrongKind, ErrVersion, ErrTruncated, ErrChecksum, ErrCorrupt}

// sentinelOf returns the one sentinel err matches, or nil if it matches
// none or several.
func sentinelOf(err error) error {
	var found error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			if found != nil {
				return nil
			}
			found = s
		}
	}
	return found
}

func samples() []*File { return []*File{sampleSockd(), sampleRoutes(), sampleSocks()} }

func TestRoundTrip(t *testing.T) {
	for _, f := range samples() {
		t.Run(f.Kind.String(), func(t *testing.T) {
			data := mustEncode(t, f)
			k, ok := KindOf(data)
			if !ok || k != f.Kind || !IsFrozen(data) {
				t.Fatalf("KindOf = %v, %v; IsFrozen = %v", k, ok, IsFrozen(data))
			}
			got, err := DecodeKind(data, f.Kind)
			if err != nil {
				t.Fatalf("DecodeKind: %v", err)
			}
			want := *f
			want.Version = FormatVersion
			want.Checksum = [32]byte(data[lengthEnd:checksumEnd]) // what Decode verified
			if diff := cmp.Diff(&want, got, cmpAddr); diff != "" {
				t.Errorf("decoded file differs (-want +got):\n%s", diff)
			}
			again := mustEncode(t, got)
			if !bytes.Equal(again, data) {
				t.Errorf("Encode(Decode(x)) != x")
			}
		})
	}
}

func TestEncodeIsReproducible(t *testing.T) {
	for _, f := range samples() {
		a, b := mustEncode(t, f), mustEncode(t, f)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two encodings of the same value differ", f.Kind)
		}
		// A deep copy built independently must give the same bytes too:
		// nothing may depend on pointers or allocation.
		g, err := Decode(a)
		if err != nil {
			t.Fatal(err)
		}
		if c := mustEncode(t, g); !bytes.Equal(a, c) {
			t.Errorf("%s: encoding a decoded copy differs", f.Kind)
		}
	}
}

// TestGolden pins the exact bytes of a tiny file of each kind, so that a
// change of format is noticed and made deliberately (go test -update, and
// a new FormatVersion if old files would no longer read).
func TestGolden(t *testing.T) {
	for name, f := range tinyFiles() {
		t.Run(name, func(t *testing.T) {
			data := mustEncode(t, f)
			path := filepath.Join("testdata", name+".hex")
			var text strings.Builder
			for off := 0; off < len(data); off += 32 {
				text.WriteString(hex.EncodeToString(data[off:min(off+32, len(data))]))
				text.WriteByte('\n')
			}
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(text.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if string(want) != text.String() {
				t.Errorf("encoding of %s changed; if that is deliberate, run go test -update.\ngot:\n%swant:\n%s", name, text.String(), want)
			}
			golden, err := hex.DecodeString(strings.ReplaceAll(string(want), "\n", ""))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(golden)
			if err != nil {
				t.Fatalf("golden file does not decode: %v", err)
			}
			f.Version = FormatVersion
			f.Checksum = [32]byte(golden[lengthEnd:checksumEnd])
			if diff := cmp.Diff(f, got, cmpAddr); diff != "" {
				t.Errorf("golden file decodes differently (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGoldenHeader spells out the header layout documented in the
// package comment, independently of the encoder.
func TestGoldenHeader(t *testing.T) {
	data := mustEncode(t, tinyFiles()["sockd.fr"])
	if string(data[:8]) != "SOCKDFR\x00" {
		t.Errorf("magic = %q", data[:8])
	}
	if v := binary.BigEndian.Uint32(data[8:12]); v != 2 {
		t.Errorf("version = %d", v)
	}
	if n := binary.BigEndian.Uint64(data[12:20]); n != uint64(len(data)-52) {
		t.Errorf("body length = %d, file has %d bytes after the header", n, len(data)-52)
	}
	h := append(append([]byte(nil), data[:20]...), data[52:]...)
	if sum := sha256Of(h); !bytes.Equal(sum, data[20:52]) {
		t.Errorf("checksum is not SHA-256(header without checksum + body)")
	}
}

// reflectiveBody encodes a body with msgpack/v5 itself, with the options
// the package doc names.
func reflectiveBody(t *testing.T, f *File) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	enc.UseArrayEncodedStructs(true)
	if err := enc.Encode(&body{Meta: f.Meta, Sockd: f.Sockd, Route: f.Route, Socks: f.Socks}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBodyIsMsgpack checks the codec against msgpack/v5's reflective
// side: the reflective encoder writes exactly our bytes, and the
// reflective decoder reads our bodies into the same values.
func TestBodyIsMsgpack(t *testing.T) {
	for _, f := range everySample() {
		data := mustEncode(t, f)
		if want := reflectiveBody(t, f); !bytes.Equal(want, data[HeaderSize:]) {
			t.Errorf("%s: msgpack/v5 encodes\n%x\nwe encode\n%x", f.Kind, want, data[HeaderSize:])
		}
		var b body
		if err := msgpack.Unmarshal(data[HeaderSize:], &b); err != nil {
			t.Fatalf("%s: msgpack/v5 cannot read the body: %v", f.Kind, err)
		}
		want := body{Meta: f.Meta, Sockd: f.Sockd, Route: f.Route, Socks: f.Socks}
		if diff := cmp.Diff(want, b, cmpAddr); diff != "" {
			t.Errorf("%s: msgpack/v5 reads the body differently (-want +got):\n%s", f.Kind, diff)
		}
	}
}

// TestFieldCountsMatchTypes checks the codec against the config types by
// reflection: a field added to config must be added to codec.go too, or
// it would be silently left out of frozen files.
func TestFieldCountsMatchTypes(t *testing.T) {
	cases := []struct {
		typ   reflect.Type
		count int
	}{
		{reflect.TypeFor[config.Pos](), posFieldCount},
		{reflect.TypeFor[config.Addr](), addrFieldCount},
		{reflect.TypeFor[config.PortTest](), portFieldCount},
		{reflect.TypeFor[config.Rule](), ruleFieldCount},
		{reflect.TypeFor[config.Special](), specialFieldCount},
		{reflect.TypeFor[config.SockdConf](), sockdFieldCount},
		{reflect.TypeFor[config.Route](), routeFieldCount},
		{reflect.TypeFor[config.RouteConf](), routeConfFieldCount},
		{reflect.TypeFor[config.Server](), serverFieldCount},
		{reflect.TypeFor[config.ClientRule](), clientRuleFieldCount},
		{reflect.TypeFor[config.SocksConf](), socksFieldCount},
		{reflect.TypeFor[Meta](), metaFieldCount},
		{reflect.TypeFor[body](), bodyFieldCount},
	}
	for _, c := range cases {
		// Fields tagged msgpack:"-" never go into frozen files (the
		// srelay.conf fields of the client model: it has no frozen form).
		n := 0
		for i := range c.typ.NumField() {
			if c.typ.Field(i).Tag.Get("msgpack") != "-" {
				n++
			}
		}
		if n != c.count {
			t.Errorf("%s has %d fields, the codec writes %d", c.typ, n, c.count)
		}
	}
	// What the writer writes for each struct is an array of that count:
	// the first byte of the encoding of its zero value.
	var w writer
	for _, c := range []struct {
		name  string
		write func()
		count int
	}{
		{"rule", func() { w.rule(&config.Rule{}) }, ruleFieldCount},
		{"client rule", func() { w.clientRule(&config.ClientRule{}) }, clientRuleFieldCount},
		{"server", func() { w.server(&config.Server{}) }, serverFieldCount},
		{"address", func() { w.addr(&config.Addr{}) }, addrFieldCount},
		{"port", func() { w.portTest(&config.PortTest{}) }, portFieldCount},
		{"special", func() { w.special(&config.Special{}) }, specialFieldCount},
		{"sockd", func() { w.sockdConf(&config.SockdConf{}) }, sockdFieldCount},
		{"route conf", func() { w.routeConf(&config.RouteConf{}) }, routeConfFieldCount},
		{"socks conf", func() { w.socksConf(&config.SocksConf{}) }, socksFieldCount},
		{"body", func() { w.encodeBody(&body{}) }, bodyFieldCount},
	} {
		w = writer{}
		c.write()
		if w.buf[0] != fixArrayLow+byte(c.count) {
			t.Errorf("%s: written as 0x%02x, not an array of %d", c.name, w.buf[0], c.count)
		}
	}
}

// TestMinEncodedSizes checks the lower bounds that cap allocations: the
// zero value of each struct is its smallest encoding.
func TestMinEncodedSizes(t *testing.T) {
	var w writer
	w.rule(&config.Rule{})
	if len(w.buf) < minRuleBytes {
		t.Errorf("a minimal rule is %d bytes, minRuleBytes is %d", len(w.buf), minRuleBytes)
	}
	w = writer{}
	w.routeConf(&config.RouteConf{Routes: []config.Route{{}}})
	if n := len(w.buf) - len("\x92\xa0\x91"); n < minRouteBytes {
		t.Errorf("a minimal route is %d bytes, minRouteBytes is %d", n, minRouteBytes)
	}
	w = writer{}
	w.clientRule(&config.ClientRule{})
	if len(w.buf) < minClientRuleBytes {
		t.Errorf("a minimal client rule is %d bytes, minClientRuleBytes is %d", len(w.buf), minClientRuleBytes)
	}
	w = writer{}
	w.server(&config.Server{})
	if len(w.buf) < minServerBytes {
		t.Errorf("a minimal server is %d bytes, minServerBytes is %d", len(w.buf), minServerBytes)
	}
}

func TestZeroAndZonedAddrRoundTrip(t *testing.T) {
	for _, a := range []netip.Addr{{}, ip("1.2.3.4"), ip("::ffff:1.2.3.4"), ip("::"), ip("fe80::1%eth0"), ip("fe80::1%" + strings.Repeat("z", 300))} {
		var w writer
		w.ip(a)
		r := newReader(string(w.buf))
		got := r.ip("test")
		if r.err != nil || got != a || r.left() != 0 {
			t.Errorf("%v: read back %v (err %v, %d bytes left)", a, got, r.err, r.left())
		}
	}
}

func TestRefusals(t *testing.T) {
	valid := mustEncode(t, tinyFiles()["sockd.fc"])
	routes := mustEncode(t, tinyFiles()["sockd.fr"])
	socks := mustEncode(t, tinyFiles()["socks.fc"])
	withVersion := func(data []byte, v uint32) []byte {
		out := append([]byte(nil), data...)
		binary.BigEndian.PutUint32(out[8:], v)
		return out
	}
	bodyLen1234 := func() []byte {
		out := append([]byte(nil), valid[:HeaderSize]...)
		binary.BigEndian.PutUint64(out[12:], 1234)
		return append(out, make([]byte, 1000)...)
	}
	hugeLen := func() []byte {
		out := append([]byte(nil), valid...)
		binary.BigEndian.PutUint64(out[12:], ^uint64(0))
		return out
	}
	flipped := append([]byte(nil), valid...)
	flipped[len(flipped)-3] ^= 0x20
	// testdata/sockd.fc.v1.hex is the golden sockd.fc of format version 1,
	// as the last version-1 build wrote it.
	v1Hex, err := os.ReadFile(filepath.Join("testdata", "sockd.fc.v1.hex"))
	if err != nil {
		t.Fatal(err)
	}
	version1File, err := hex.DecodeString(strings.ReplaceAll(string(v1Hex), "\n", ""))
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		data     []byte
		want     Kind // 0: Decode, else DecodeKind
		sentinel error
		msg      string
	}{
		{"text config", []byte("permit 10.0.0.0 255.0.0.0\n"), 0, ErrNotFrozen,
			"not a frozen file (no SOCKDFC/SOCKDFR/SOCKSFC magic); is it a text config?"},
		{"empty", nil, 0, ErrNotFrozen,
			"not a frozen file (no SOCKDFC/SOCKDFR/SOCKSFC magic); is it a text config?"},
		{"route file for rules", routes, KindSockdFC, ErrWrongKind,
			"this is a sockd.fr route file, not a sockd.fc rule file"},
		{"client file for routes", socks, KindSockdFR, ErrWrongKind,
			"this is a socks.fc client rule file, not a sockd.fr route file"},
		{"newer version", withVersion(valid, 7), 0, ErrVersion,
			"format version 7 is not supported (this build reads version 2); rebuild it with make_sockdfc"},
		{"route version 0", withVersion(routes, 0), KindSockdFR, ErrVersion,
			"format version 0 is not supported (this build reads version 2); rebuild it with make_sockdfr"},
		// A file written by an older build is refused, never misread, and
		// the message says what to do.
		{"version 1 file", version1File, KindSockdFC, ErrVersion,
			"format version 1 is not supported (this build reads version 2); rebuild it with make_sockdfc"},
		{"version 1 client file", withVersion(socks, 1), 0, ErrVersion,
			"format version 1 is not supported (this build reads version 2); rebuild it with make_socksfc"},
		{"short body", bodyLen1234(), 0, ErrTruncated,
			"file is truncated: header says 1234 bytes of body, found 1000"},
		{"huge body length", hugeLen(), 0, ErrTruncated,
			"file is truncated: header says 18446744073709551615 bytes of body, found " + itoa(len(valid)-HeaderSize)},
		{"short header", valid[:30], 0, ErrTruncated,
			"file is truncated: the header needs 52 bytes, found 30"},
		{"part of a magic", valid[:5], 0, ErrTruncated,
			"file is truncated: the header needs 52 bytes, found 5"},
		{"trailing garbage", append(append([]byte(nil), valid...), "twelve bytes"...), 0, ErrCorrupt,
			"file has 12 bytes after its body"},
		{"flipped bit", flipped, 0, ErrChecksum,
			"checksum mismatch: file is damaged"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var f *File
			var err error
			if c.want == 0 {
				f, err = Decode(c.data)
			} else {
				f, err = DecodeKind(c.data, c.want)
			}
			if f != nil || err == nil {
				t.Fatalf("accepted: %v", err)
			}
			if err.Error() != c.msg {
				t.Errorf("message\n got %q\nwant %q", err.Error(), c.msg)
			}
			if sentinelOf(err) != c.sentinel {
				t.Errorf("errors.Is(%v) does not single out %v", err, c.sentinel)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func sha256Of(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}

// TestCorruptBodies feeds bodies behind a valid checksum, as a crafted
// file would have, so that only the body checks can refuse them.
func TestCorruptBodies(t *testing.T) {
	tiny := tinyFiles()
	// encodeRaw writes a File without validation, as a crafted file would.
	encodeRaw := func(f *File) []byte {
		return encodeFile(f.Kind, &body{Meta: f.Meta, Sockd: f.Sockd, Route: f.Route, Socks: f.Socks})
	}
	withRule := func(edit func(r *config.Rule)) []byte {
		f := tinyFiles()["sockd.fc"]
		edit(&f.Sockd.Rules[0])
		return encodeRaw(f)
	}
	withClientRule := func(edit func(r *config.ClientRule)) []byte {
		f := tinyFiles()["socks.fc"]
		edit(&f.Socks.Rules[0])
		return encodeRaw(f)
	}
	validBody := mustEncode(t, tiny["sockd.fc"])[HeaderSize:]
	// replaceOnce swaps byte sequences of the valid body for others:
	// pairs of old, new.
	replaceOnce := func(pairs ...string) []byte {
		out := validBody
		for j := 0; j < len(pairs); j += 2 {
			old, new := pairs[j], pairs[j+1]
			if bytes.Count(out, []byte(old)) != 1 {
				t.Fatalf("%q is not in the body exactly once", old)
			}
			out = bytes.Replace(out, []byte(old), []byte(new), 1)
		}
		return sealBody(KindSockdFC, out)
	}
	routeAsRules := encodeRaw(&File{Kind: KindSockdFC, Meta: tiny["sockd.fr"].Meta, Route: tiny["sockd.fr"].Route})
	both := encodeRaw(&File{Kind: KindSockdFC, Meta: tiny["sockd.fc"].Meta, Sockd: tiny["sockd.fc"].Sockd, Route: tiny["sockd.fr"].Route})

	hugeArray := append([]byte(nil), validBody...)
	// The rules array is a fixarray of one rule (0x91) after the payload's
	// source; claim 2^32-1 rules.
	i := bytes.Index(hugeArray, []byte("\x94\xaasockd.conf\x91")) + 12
	hugeArray = append(append(append([]byte(nil), hugeArray[:i]...), 0xdd, 0xff, 0xff, 0xff, 0xff), hugeArray[i+1:]...)
	at := func(seq string, plus int) string {
		return itoa(bytes.Index(validBody, []byte(seq)) + plus)
	}
	const longer = ": not in canonical form (a shorter encoding exists)"

	cases := []struct {
		name string
		data []byte
		msg  string
	}{
		{"unknown action", withRule(func(r *config.Rule) { r.Action = 7 }),
			"corrupt body: rule 1 (line 1): unknown action 7"},
		{"unknown ident", withRule(func(r *config.Rule) { r.Ident = 9 }),
			"corrupt body: rule 1 (line 1): unknown ident setting 9"},
		{"unknown port operator", withRule(func(r *config.Rule) { r.Port = config.PortTest{Op: 12, Port: 80} }),
			"corrupt body: rule 1 (line 1): unknown port operator 12"},
		{"port without operator", withRule(func(r *config.Rule) { r.Port = config.PortTest{Port: 80} }),
			"corrupt body: rule 1 (line 1): a port test without an operator has port 80 \"\""},
		{"unknown address kind", withRule(func(r *config.Rule) { r.Dst.Kind = 5 }),
			"corrupt body: rule 1 (line 1): destination: unknown address kind 5"},
		{"family mismatch", withRule(func(r *config.Rule) { r.Src.Mask = ip("ffff::") }),
			"corrupt body: rule 1 (line 1): source: IP 10.0.0.0 and mask ffff:: are of different families"},
		{"mask without IP", withRule(func(r *config.Rule) { r.Src.IP = netip.Addr{} }),
			"corrupt body: rule 1 (line 1): source: an address with a mask lacks its IP or its mask"},
		{"non-contiguous CIDR", withRule(func(r *config.Rule) { r.Src = cidrAddr("10.0.0.0", "255.0.255.0") }),
			"corrupt body: rule 1 (line 1): source: mask 255.0.255.0 is written as a prefix length but is not contiguous"},
		{"empty pattern", withRule(func(r *config.Rule) { r.Dst = config.Addr{Kind: config.AddrPattern} }),
			"corrupt body: rule 1 (line 1): destination: a name pattern is empty"},
		{"empty user", withRule(func(r *config.Rule) { r.Users = []string{"alice", ""} }),
			"corrupt body: rule 1 (line 1): user 2 of the user list is empty"},
		{"two-line text", withRule(func(r *config.Rule) { r.Text = "permit\ndeny" }),
			"corrupt body: rule 1 (line 1): source text \"permit\\ndeny\" spans more than one line"},
		{"negative line", withRule(func(r *config.Rule) { r.Pos.Line = -4 }),
			"corrupt body: rule 1: negative position -4:1"},
		{"unknown client action", withClientRule(func(r *config.ClientRule) { r.Action = 3 }),
			"corrupt body: client rule 1 (line 1): unknown action 3"},
		{"servers on a direct line", withClientRule(func(r *config.ClientRule) { r.Action = config.ClientDirect }),
			"corrupt body: client rule 1 (line 1): a direct line has a server list"},
		{"unknown scheme", withClientRule(func(r *config.ClientRule) { r.Servers[0].Scheme = "gopher" }),
			"corrupt body: client rule 1 (line 1): server 1: unknown scheme \"gopher\""},
		{"route without interface", func() []byte {
			f := tinyFiles()["sockd.fr"]
			f.Route.Routes[0].If = netip.Addr{}
			return encodeRaw(f)
		}(), "corrupt body: route 1 (line 1): no interface address"},
		{"rules file without rules", routeAsRules,
			"corrupt body: a sockd.fc rule file has no \"sockd\" payload"},
		{"two payloads", both,
			"corrupt body: a sockd.fc rule file cannot hold a \"route\" payload"},
		{"missing source hash", func() []byte {
			f := tinyFiles()["sockd.fc"]
			f.Meta.SourceSHA256 = ""
			return encodeRaw(f)
		}(), "corrupt body: meta names the source \"sockd.conf\" but not its SHA-256"},
		{"bad source hash", func() []byte {
			f := tinyFiles()["sockd.fc"]
			f.Meta.SourceSHA256 = strings.ToUpper(f.Meta.SourceSHA256)
			return encodeRaw(f)
		}(), "corrupt body: meta source hash \"" + strings.ToUpper(tiny["sockd.fc"].Meta.SourceSHA256) + "\" is not 64 lower-case hex digits"},
		// MessagePack-level damage, with a valid checksum.
		{"not an array", sealBody(KindSockdFC, []byte("\xa3abc")),
			"corrupt body: at body byte 0: body: expected an array of 4 fields, found a string"},
		{"empty body", sealBody(KindSockdFC, nil),
			"corrupt body: at body byte 0: unexpected end of body"},
		{"extra field", replaceOnce("\x99\x92\x01\x01", "\x9a\x92\x01\x01"),
			"corrupt body: at body byte " + at("\x99\x92", 0) + ": rule: expected 9 fields, found 10"},
		{"missing field", replaceOnce("\x99\x92\x01\x01", "\x98\x92\x01\x01"),
			"corrupt body: at body byte " + at("\x99\x92", 0) + ": rule: expected 9 fields, found 8"},
		{"array longer than its elements", replaceOnce("\x91\x99", "\x92\x99"),
			"corrupt body: at body byte " + itoa(len(validBody)-4) + ": rule: expected an array of 9 fields, found nil"},
		{"boolean written as an integer", replaceOnce("\xff\x00\x00\x00\xc2", "\xff\x00\x00\x00\x00"),
			"corrupt body: at body byte " + at("\xff\x00\x00\x00\xc2", 4) + ": source cidr: expected a boolean, found an unsigned integer"},
		// Each value in a longer form than the shortest: a decoder that
		// accepted these would read two different files as one configuration.
		{"non-canonical integer", replaceOnce("\x99\x92\x01\x01\x01\x00", "\x99\x92\x01\x01\xcc\x01\x00"),
			"corrupt body: at body byte " + at("\x99\x92", 4) + ": action" + longer},
		{"non-canonical string length", replaceOnce("\xb9permit", "\xd9\x19permit"),
			"corrupt body: at body byte " + at("\xb9permit", 0) + ": text" + longer},
		{"non-canonical array length", replaceOnce("\xaasockd.conf\x91", "\xaasockd.conf\xdc\x00\x01"),
			"corrupt body: at body byte " + at("\xaasockd.conf\x91", 11) + ": rules" + longer},
		{"non-canonical binary length", replaceOnce("\xc4\x04\x0a", "\xc5\x00\x04\x0a"),
			"corrupt body: at body byte " + at("\xc4\x04\x0a", 0) + ": source ip" + longer},
		{"huge array", sealBody(KindSockdFC, hugeArray),
			"corrupt body: at body byte " + itoa(i) + ": rules: length 4294967295 overruns the body (" + itoa(len(hugeArray)-i-5) + " bytes left)"},
		{"value after body", sealBody(KindSockdFC, append(append([]byte(nil), validBody...), 0xc0)),
			"corrupt body: 1 bytes follow the body's MessagePack value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Decode(c.data)
			if f != nil || err == nil {
				t.Fatalf("accepted")
			}
			if err.Error() != c.msg {
				t.Errorf("message\n got %q\nwant %q", err.Error(), c.msg)
			}
			if sentinelOf(err) != ErrCorrupt {
				t.Errorf("%v is not singled out as ErrCorrupt", err)
			}
		})
	}
}

func TestEncodeRefusesWhatDecodeRefuses(t *testing.T) {
	f := tinyFiles()["sockd.fc"]
	f.Sockd.Rules[0].Action = 9
	if _, err := Encode(f); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "unknown action 9") {
		t.Errorf("Encode of action 9: %v", err)
	}
	for _, bad := range []*File{
		nil,
		{Kind: 0, Sockd: &config.SockdConf{}},
		{Kind: KindSockdFR, Sockd: &config.SockdConf{}},
		{Kind: KindSockdFC, Version: 1, Sockd: &config.SockdConf{}},
		{Kind: KindSockdFC, Version: 3, Sockd: &config.SockdConf{}},
	} {
		if _, err := Encode(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Encode(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := DecodeKind(nil, 0); err == nil {
		t.Errorf("DecodeKind with kind 0 succeeded")
	}
}

// TestEmptyAndNilRules checks the distinctions the body keeps: a file with
// no rules (nil) and one with an empty list both load, and keep apart.
func TestEmptyAndNilRules(t *testing.T) {
	for _, rules := range [][]config.Rule{nil, {}} {
		f := &File{Kind: KindSockdFC, Sockd: &config.SockdConf{Rules: rules}}
		got, err := Decode(mustEncode(t, f))
		if err != nil {
			t.Fatal(err)
		}
		if (got.Sockd.Rules == nil) != (rules == nil) || len(got.Sockd.Rules) != 0 {
			t.Errorf("rules %#v came back as %#v", rules, got.Sockd.Rules)
		}
	}
}

// TestEveryCorruptionIsRefused changes every byte of each tiny file to
// every other value, and cuts the file at every length: each result must
// be refused, with one sentinel, and never panic.
func TestEveryCorruptionIsRefused(t *testing.T) {
	for name, f := range tinyFiles() {
		data := mustEncode(t, f)
		mutated := make([]byte, len(data))
		for off := range data {
			for v := 0; v < 256; v++ {
				if byte(v) == data[off] {
					continue
				}
				copy(mutated, data)
				mutated[off] = byte(v)
				if got, err := Decode(mutated); err == nil || got != nil {
					t.Fatalf("%s: byte %d set to 0x%02x was accepted", name, off, v)
				} else if sentinelOf(err) == nil {
					t.Fatalf("%s: byte %d set to 0x%02x: %v matches no single sentinel", name, off, v, err)
				}
				// The same damage behind a valid checksum reaches the
				// body decoder: refused, or accepted only if canonical.
				if off >= HeaderSize {
					sealed := reseal(mutated)
					if got, err := Decode(sealed); err == nil {
						if again, _ := Encode(got); !bytes.Equal(again, sealed) {
							t.Fatalf("%s: resealed byte %d = 0x%02x accepted but not canonical", name, off, v)
						}
					} else if !errors.Is(err, ErrCorrupt) {
						t.Fatalf("%s: resealed byte %d = 0x%02x: %v", name, off, v, err)
					}
				}
			}
		}
		for n := 0; n < len(data); n++ {
			if got, err := Decode(data[:n]); err == nil || got != nil {
				t.Fatalf("%s: truncation to %d bytes was accepted", name, n)
			} else if sentinelOf(err) == nil {
				t.Fatalf("%s: truncation to %d bytes: %v matches no single sentinel", name, n, err)
			}
		}
	}
}

// TestHugeClaimsDoNotAllocate decodes crafted files whose length fields
// claim gigabytes and checks that memory use stays small.
func TestHugeClaimsDoNotAllocate(t *testing.T) {
	valid := mustEncode(t, tinyFiles()["sockd.fc"])
	header := append([]byte(nil), valid...)
	binary.BigEndian.PutUint64(header[12:], 1<<62)
	// The body, its meta (three empty strings) and a sockd payload whose
	// source is empty; its rules come next.
	body := []byte("\x94\x93\xa0\xa0\xa0\x94\xa0")
	// An array of 2^32-1 rules, then one that claims as many rules as
	// there are bytes left: each rule is a (broken) empty array.
	emptyArrays := bytes.Repeat([]byte{0x90}, 4096)
	crafted := sealBody(KindSockdFC, append(append(append([]byte(nil), body...), 0xdd, 0xff, 0xff, 0xff, 0xff), emptyArrays...))
	plausible := sealBody(KindSockdFC, append(append(append([]byte(nil), body...), 0xdc, 0x10, 0), emptyArrays...))
	if _, err := Decode(plausible); err == nil || !strings.Contains(err.Error(), "rules: 4096 entries cannot fit in the 4096 bytes left") {
		t.Errorf("a rule count the body cannot hold: %v", err)
	}

	for _, data := range [][]byte{header, crafted, plausible} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Decode(data)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatal("accepted")
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("decoding a %d-byte file allocated %d bytes (%v)", len(data), grew, err)
		}
	}
}

// longerForms walks a MessagePack value of the types the body uses and
// returns, for every integer and length header in it, the same value with
// that one header rewritten in the next longer form.
func longerForms(t *testing.T, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	rewrite := func(at, n int, header []byte) {
		v := append(append(append([]byte(nil), data[:at]...), header...), data[at+n:]...)
		out = append(out, v)
	}
	be := func(at, n int) int {
		v := 0
		for i := 0; i < n; i++ {
			v = v<<8 | int(data[at+i])
		}
		return v
	}
	var walk func(at int) int
	walk = func(at int) int {
		c := data[at]
		switch {
		case c <= 0x7f:
			rewrite(at, 1, []byte{codeUint8, c})
			return at + 1
		case c >= negFixLow:
			rewrite(at, 1, []byte{codeInt8, c})
			return at + 1
		case c == codeNil || c == codeFalse || c == codeTrue:
			return at + 1
		case c >= codeUint8 && c <= codeUint32:
			n := 1 << (c - codeUint8)
			v := be(at+1, n)
			w := writer{buf: []byte{c + 1}}
			for i := 2 * n; i > 0; i-- {
				w.buf = append(w.buf, byte(v>>(8*(i-1))))
			}
			rewrite(at, 1+n, w.buf)
			return at + 1 + n
		case c >= fixStrLow && c <= 0xbf:
			n := int(c - fixStrLow)
			rewrite(at, 1, []byte{codeStr8, byte(n)})
			return at + 1 + n
		case c == codeStr8 || c == codeBin8:
			n := int(data[at+1])
			rewrite(at, 2, []byte{c + 1, 0, byte(n)})
			return at + 2 + n
		case c >= fixArrayLow && c <= 0x9f:
			n := int(c - fixArrayLow)
			rewrite(at, 1, []byte{codeArray16, 0, byte(n)})
			at++
			for range n {
				at = walk(at)
			}
			return at
		}
		t.Fatalf("longerForms: unexpected type code 0x%02x at %d", c, at)
		return 0
	}
	if end := walk(0); end != len(data) {
		t.Fatalf("longerForms: value ends at %d of %d bytes", end, len(data))
	}
	return out
}

// TestEveryLongerFormIsRefused rewrites each integer and length header of
// every sample body in a longer form, one at a time: the decoder must
// refuse each such body, so that a file decodes to exactly one
// configuration and two builds of one configuration are byte-identical.
func TestEveryLongerFormIsRefused(t *testing.T) {
	for _, f := range everySample() {
		bodyBytes := mustEncode(t, f)[HeaderSize:]
		variants := longerForms(t, bodyBytes)
		if len(variants) < 15 {
			t.Fatalf("%s: only %d headers found", f.Kind, len(variants))
		}
		for _, v := range variants {
			got, err := Decode(sealBody(f.Kind, v))
			if got != nil || err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not in canonical form") {
				t.Fatalf("%s: body %x: decoded %v, %v", f.Kind, v, got != nil, err)
			}
		}
	}
}

// TestHalvesDecodeLikeOnePass checks that a file large enough to be
// decoded in two halves gives exactly what one pass gives: the same
// configuration, and for damage in either half, or damage that stops the
// second half from being found, the same error.
func TestHalvesDecodeLikeOnePass(t *testing.T) {
	const n = 10_000
	if n < parallelRulesMin {
		t.Fatalf("the test file is too small to be decoded in halves")
	}
	f := bigSockd(n)
	for _, i := range []int{100, n - 100} {
		f.Sockd.Rules[i].Text = fmt.Sprintf("MARKER%05d", i)
	}
	valid := mustEncode(t, f)
	validBody := valid[HeaderSize:]
	replace := func(old, new string) []byte {
		if bytes.Count(validBody, []byte(old)) != 1 {
			t.Fatalf("%q is not in the body exactly once", old)
		}
		return sealBody(KindSockdFC, bytes.Replace(validBody, []byte(old), []byte(new), 1))
	}
	withRule := func(i int, edit func(r *config.Rule)) []byte {
		g := bigSockd(n)
		edit(&g.Sockd.Rules[i])
		return encodeFile(g.Kind, &body{Meta: g.Meta, Sockd: g.Sockd})
	}
	cases := map[string][]byte{
		"valid":                     valid,
		"invalid rule, first half":  withRule(100, func(r *config.Rule) { r.Action = 7 }),
		"invalid rule, second half": withRule(n-100, func(r *config.Rule) { r.Action = 7 }),
		"invalid rules, both":       withRule(n-100, func(r *config.Rule) { r.Action = 7; r.Ident = 0 }),
		"longer form, first half":   replace("\xabMARKER00100", "\xd9\x0bMARKER00100"),
		"longer form, second half":  replace(fmt.Sprintf("\xabMARKER%05d", n-100), fmt.Sprintf("\xd9\x0bMARKER%05d", n-100)),
		// 0xc1 is no MessagePack type: the second half cannot be found.
		"unknown type, first half": replace("\xabMARKER00100", "\xc1\xaaMARKER0010"),
		"truncated rules":          sealBody(KindSockdFC, validBody[:len(validBody)/2]),
	}
	defer func(old int) { parallelRulesMin = old }(parallelRulesMin)
	for name, data := range cases {
		parallelRulesMin = 8192
		halves, errHalves := Decode(data)
		parallelRulesMin = math.MaxInt
		onePass, errOnePass := Decode(data)
		if fmt.Sprint(errHalves) != fmt.Sprint(errOnePass) {
			t.Errorf("%s: in halves %v\n one pass %v", name, errHalves, errOnePass)
		}
		if (name == "valid") != (errHalves == nil) {
			t.Errorf("%s: error %v", name, errHalves)
		}
		if diff := cmp.Diff(onePass, halves, cmpAddr); diff != "" {
			t.Errorf("%s: decoded differently (-one pass +halves):\n%s", name, diff)
		}
	}
}

// TestSkipValues checks the scan that finds the second half of the rules:
// it must end every body exactly where it ends, whatever form each value
// is written in, and never claim to have skipped a truncated one.
func TestSkipValues(t *testing.T) {
	for _, f := range everySample() {
		b := mustEncode(t, f)[HeaderSize:]
		for _, v := range append(longerForms(t, b), b) {
			if end, ok := skipValues(string(v), 0, 1); !ok || end != len(v) {
				t.Fatalf("%s: skipping %x ends at %d (%v), want %d", f.Kind, v, end, ok, len(v))
			}
			if _, ok := skipValues(string(v[:len(v)-1]), 0, 1); ok {
				t.Fatalf("%s: skipped a truncated body", f.Kind)
			}
		}
	}
	// Every integer form, negative ones included.
	var w writer
	for _, v := range []int64{0, -1, -33, 200, -200, 70000, -70000, 1 << 40, -(1 << 40)} {
		w.int(v)
	}
	if end, ok := skipValues(string(w.buf), 0, 9); !ok || end != len(w.buf) {
		t.Errorf("integers: ends at %d (%v), want %d", end, ok, len(w.buf))
	}
}

func TestPeekMeta(t *testing.T) {
	for _, f := range samples() {
		data := mustEncode(t, f)
		if m, ok := PeekMeta(string(data)); !ok || m != f.Meta {
			t.Errorf("%s: PeekMeta = %+v, %v; want %+v", f.Kind, m, ok, f.Meta)
		}
		// Not verified: a damaged body still shows its metadata, which is
		// why Decode must confirm it.
		damaged := append([]byte(nil), data...)
		damaged[len(damaged)-1] ^= 1
		if m, ok := PeekMeta(string(damaged)); !ok || m != f.Meta {
			t.Errorf("%s: PeekMeta of a damaged file = %+v, %v", f.Kind, m, ok)
		}
		for _, bad := range []string{"", "permit 0.0.0.0 0.0.0.0\n", string(data[:HeaderSize+3])} {
			if _, ok := PeekMeta(bad); ok {
				t.Errorf("%s: PeekMeta(%q) succeeded", f.Kind, bad)
			}
		}
	}
}
