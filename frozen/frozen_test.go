package frozen

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
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
	if v := binary.BigEndian.Uint32(data[8:12]); v != 1 {
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

// TestBodyIsMsgpack checks the hand-written codec against msgpack/v5
// itself: the reflective decoder reads our bodies into the same values,
// and where the reflective encoder works (no netip.Addr under omitempty)
// it writes exactly our bytes.
func TestBodyIsMsgpack(t *testing.T) {
	for _, f := range samples() {
		data := mustEncode(t, f)
		var b body
		if err := msgpack.Unmarshal(data[HeaderSize:], &b); err != nil {
			t.Fatalf("%s: msgpack/v5 cannot read the body: %v", f.Kind, err)
		}
		want := body{Meta: f.Meta, Sockd: f.Sockd, Route: f.Route, Socks: f.Socks}
		if diff := cmp.Diff(want, b, cmpAddr); diff != "" {
			t.Errorf("%s: msgpack/v5 reads the body differently (-want +got):\n%s", f.Kind, diff)
		}
	}

	// Without IP/mask addresses the reflective encoder is right, and must
	// agree byte for byte.
	for name, f := range tinyFiles() {
		if name == "sockd.fc" {
			continue // has a mask address
		}
		data := mustEncode(t, f)
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.UseCompactInts(true)
		enc.SetSortMapKeys(true)
		if err := enc.Encode(&body{Meta: f.Meta, Sockd: f.Sockd, Route: f.Route, Socks: f.Socks}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), data[HeaderSize:]) {
			t.Errorf("%s: msgpack/v5 encodes\n%x\nwe encode\n%x", name, buf.Bytes(), data[HeaderSize:])
		}
	}
}

// TestReflectiveEncoderDropsAddr documents why the body is encoded by
// hand. If it fails, msgpack/v5 has learnt to encode netip.Addr under
// omitempty, and the package doc should be updated.
func TestReflectiveEncoderDropsAddr(t *testing.T) {
	a := maskAddr("10.0.0.0", "255.0.0.0")
	data, err := msgpack.Marshal(&a)
	if err != nil {
		t.Fatal(err)
	}
	var back config.Addr
	if err := msgpack.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.IP.IsValid() {
		t.Errorf("msgpack/v5 now keeps omitempty netip.Addr fields (got %v); revisit the package doc", back.IP)
	}
	var w writer
	w.addr(&a)
	var ours config.Addr
	if err := msgpack.Unmarshal(w.buf, &ours); err != nil {
		t.Fatal(err)
	}
	if ours != a {
		t.Errorf("our encoding of %v reads back as %v", a, ours)
	}
}

// TestFieldSetsMatchTags derives each fieldSet from the config types' tags
// by reflection: a field added to config must be added to codec.go too.
func TestFieldSetsMatchTags(t *testing.T) {
	cases := []struct {
		typ reflect.Type
		fs  *fieldSet
	}{
		{reflect.TypeFor[config.Pos](), posFields},
		{reflect.TypeFor[config.Addr](), addrFields},
		{reflect.TypeFor[config.PortTest](), portFields},
		{reflect.TypeFor[config.Rule](), ruleFields},
		{reflect.TypeFor[config.Special](), specialFields},
		{reflect.TypeFor[config.SockdConf](), sockdFields},
		{reflect.TypeFor[config.Route](), routeFields},
		{reflect.TypeFor[config.RouteConf](), routeConfFields},
		{reflect.TypeFor[config.Server](), serverFields},
		{reflect.TypeFor[config.ClientRule](), clientRuleFields},
		{reflect.TypeFor[config.SocksConf](), socksFields},
		{reflect.TypeFor[Meta](), metaFields},
		{reflect.TypeFor[body](), bodyFields},
	}
	for _, c := range cases {
		var keys []string
		var optional []bool
		for i := 0; i < c.typ.NumField(); i++ {
			tag := c.typ.Field(i).Tag.Get("msgpack")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if name == "" {
				t.Errorf("%s.%s has no msgpack tag", c.typ, c.typ.Field(i).Name)
			}
			keys = append(keys, name)
			optional = append(optional, strings.Contains(opts, "omitempty"))
		}
		if diff := cmp.Diff(keys, c.fs.keys); diff != "" {
			t.Errorf("%s: keys differ from the tags (-tags +codec.go):\n%s", c.typ, diff)
		}
		if diff := cmp.Diff(optional, c.fs.optional); diff != "" {
			t.Errorf("%s: omitempty differs from the tags (-tags +codec.go):\n%s", c.typ, diff)
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
	if n := len(w.buf) - len("\x82\xa3src\xa0\xa6routes\x91"); n < minRouteBytes {
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
		r := newReader(w.buf)
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
			"format version 7 is not supported (this build reads version 1); rebuild it with make_sockdfc"},
		{"route version 0", withVersion(routes, 0), KindSockdFR, ErrVersion,
			"format version 0 is not supported (this build reads version 1); rebuild it with make_sockdfr"},
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
	// The rules array is a fixarray of one rule (0x91); claim 2^32-1.
	i := bytes.Index(hugeArray, []byte("\xa5rules\x91"))
	hugeArray = append(append(append([]byte(nil), hugeArray[:i+6]...), 0xdd, 0xff, 0xff, 0xff, 0xff), hugeArray[i+7:]...)

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
		{"not a map", sealBody(KindSockdFC, []byte("\xa3abc")),
			"corrupt body: at body byte 0: body: expected a map, found a string"},
		{"empty body", sealBody(KindSockdFC, nil),
			"corrupt body: at body byte 0: unexpected end of body"},
		{"unknown field", replaceOnce("\xa4text", "\xa4tixt"),
			"corrupt body: at body byte " + itoa(bytes.Index(validBody, []byte("\xa4text"))) + ": rule has an unknown, repeated or out-of-order field \"tixt\""},
		{"missing field", replaceOnce("\xa3act\x01", "\xa2id\x01"),
			"corrupt body: at body byte " + itoa(bytes.Index(validBody, []byte("\xa3pos"))-1) + ": rule has no \"act\" field"},
		{"non-canonical integer", replaceOnce("\xa3act\x01", "\xa3act\xcc\x01"),
			"corrupt body: not in canonical form (differs from its re-encoding at body byte " + itoa(bytes.Index(validBody, []byte("\xa3act\x01"))+4) + ")"},
		{"zero omitempty field written", replaceOnce("\x86\xa3pos", "\x87\xa3pos", "\xa3act\x01", "\xa3act\x01\xa2id\x00"),
			"corrupt body: not in canonical form (differs from its re-encoding at body byte " + itoa(bytes.Index(validBody, []byte("\x86\xa3pos"))) + ")"},
		{"map shorter than its header", replaceOnce("\x86\xa3pos", "\x87\xa3pos"),
			"corrupt body: at body byte " + itoa(len(validBody)) + ": unexpected end of body"},
		{"huge array", sealBody(KindSockdFC, hugeArray),
			"corrupt body: at body byte " + itoa(i+6) + ": rules: length 4294967295 overruns the body (" + itoa(len(hugeArray)-i-11) + " bytes left)"},
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
		{Kind: KindSockdFC, Version: 2, Sockd: &config.SockdConf{}},
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
	var body []byte
	body = append(body, 0x82, 0xa4, 'm', 'e', 't', 'a', 0x83)
	body = append(body, "\xa6source\xa0\xadsource_sha256\xa0\xa8compiler\xa0"...)
	body = append(body, "\xa5sockd\x82\xa3src\xa0\xa5rules"...)
	// An array of 2^32-1 rules, then one that claims as many rules as
	// there are bytes left: each rule is a (broken) empty map.
	emptyMaps := bytes.Repeat([]byte{0x80}, 4096)
	crafted := sealBody(KindSockdFC, append(append(append([]byte(nil), body...), 0xdd, 0xff, 0xff, 0xff, 0xff), emptyMaps...))
	plausible := sealBody(KindSockdFC, append(append(append([]byte(nil), body...), 0xdd, 0, 0, 0x10, 0), emptyMaps...))

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
