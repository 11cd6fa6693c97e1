package logline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	cases := []struct{ in, want string }{
		{"alice", "alice"},
		{"", ""},
		{"a\nb", `a\nb`},
		{"a\r\nb", `a\r\nb`},
		{"tab\there", `tab\there`},
		{"\x1b[31mred", `\x1b[31mred`},
		{`back\slash`, `back\\slash`},
		{"del\x7f", `del\x7f`},
		{"nul\x00", `nul\x00`},
		{"caf\u00e9", "caf\u00e9"},
		{"bad\xffutf8", `bad\xffutf8`},
		{"c1\u0085x", `c1\u0085x`},
		{"bidi\u202eevil", `bidi\u202eevil`},
		{"ls\u2028x", `ls\u2028x`},
	}
	for _, c := range cases {
		if got := Sanitize(c.in); got != c.want {
			t.Errorf("Sanitize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestSanitizeNeverLeavesControls checks every single byte and a sample of
// two-byte strings: the output never holds a control byte or invalid UTF-8.
func TestSanitizeNeverLeavesControls(t *testing.T) {
	check := func(in string) {
		out := Sanitize(in)
		if !utf8.ValidString(out) {
			t.Fatalf("Sanitize(%q) = %q is not valid UTF-8", in, out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("Sanitize(%q) = %q keeps control %U", in, out, r)
			}
		}
	}
	for b := 0; b < 256; b++ {
		check(string([]byte{byte(b)}))
		check(string([]byte{0xc2, byte(b)}))
		check(string([]byte{0xe2, 0x80, byte(b)}))
	}
}

func FuzzSanitize(f *testing.F) {
	f.Add("a\nb\x1b[31m")
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, in string) {
		out := Sanitize(in)
		if strings.ContainsAny(out, "\n\r\x1b\x00") || !utf8.ValidString(out) {
			t.Fatalf("Sanitize(%q) = %q", in, out)
		}
	})
}

func TestClassicLines(t *testing.T) {
	r := Request{Command: "Connect", User: "bob", Src: "10.0.0.1", Dst: "example.org", Service: "http"}
	if got, want := Connected(r, ""), "connected -- Connect from bob(unknown)@10.0.0.1 to example.org (http)"; got != want {
		t.Errorf("Connected = %q, want %q", got, want)
	}
	if got, want := Terminated(r, 12, 3456), "terminated -- Connect from bob(unknown)@10.0.0.1 to example.org (http). 12 bytes from 10.0.0.1, 3456 bytes from example.org"; got != want {
		t.Errorf("Terminated = %q, want %q", got, want)
	}
	r.Ident = "root"
	if got, want := Refused(r), "refused -- Connect from bob(root)@10.0.0.1 to example.org (http)"; got != want {
		t.Errorf("Refused = %q, want %q", got, want)
	}
	dialErr := fmt.Errorf("dial: %w", syscall.ECONNREFUSED)
	if got, want := Failed(r, "connect", dialErr), "failed -- Connect from bob(root)@10.0.0.1 to example.org (http).  Error code: connect() Connection refused"; got != want {
		t.Errorf("Failed = %q, want %q", got, want)
	}
	if got, want := Failed(r, "resolve", errors.New("no such host")), "failed -- Connect from bob(root)@10.0.0.1 to example.org (http).  Error code: resolve() no such host"; got != want {
		t.Errorf("Failed = %q, want %q", got, want)
	}
	b := Request{Command: "Bind", User: "u", Src: "h", Service: "ftp"}
	if got, want := Connected(b, "4242"), "connected -- Bind from u(unknown)@h for Unspecified.Host (4242)"; got != want {
		t.Errorf("Connected(bind) = %q, want %q", got, want)
	}
	if got, want := WrongHost(b, "10.9.9.9", "5555"), "failed -- Bind from u(unknown)@h for Unspecified.Host. Error: connected to wrong host 10.9.9.9 (5555)"; got != want {
		t.Errorf("WrongHost = %q, want %q", got, want)
	}
	if got, want := TimedOut(b), "timed-out -- Bind from u(unknown)@h for Unspecified.Host"; got != want {
		t.Errorf("TimedOut = %q", got)
	}
	if got, want := NoIdentd("h"), "cannot connect to identd on h"; got != want {
		t.Errorf("NoIdentd = %q", got)
	}
	if got, want := Alert("eve", "bob"), "*Alert*: real user is eve, not bob"; got != want {
		t.Errorf("Alert = %q", got)
	}
	if got, want := WrongVersion(0x47, "h"), "error -- wrong version (0x47) from host h."; got != want {
		t.Errorf("WrongVersion = %q", got)
	}
	if got, want := UndefinedCommand(9, "h"), "error -- undefined command (0x09) from host h"; got != want {
		t.Errorf("UndefinedCommand = %q", got)
	}
}

// TestInjectionText: a hostile user id gives one line, escaped, in the
// message and in the fields.
func TestInjectionText(t *testing.T) {
	var out bytes.Buffer
	log := New(&out, FormatText, slog.LevelInfo)
	evil := "mallory\nINFO refused -- forged\x1b[31m"
	r := Request{Command: "Connect", User: evil, Src: "127.0.0.1", Dst: "d", Service: "80"}
	log.Info(Refused(r), "user", evil, "n", 3, slog.Group("g", "k", "v w"))
	s := out.String()
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Fatalf("want exactly one line, got %q", s)
	}
	if strings.ContainsRune(s, 0x1b) {
		t.Fatalf("ESC survived: %q", s)
	}
	for _, want := range []string{`refused -- Connect from mallory\nINFO refused -- forged\x1b[31m(unknown)@127.0.0.1 to d (80)`,
		`user="mallory\nINFO refused -- forged\x1b[31m"`, " n=3", ` g.k="v w"`} {
		if !strings.Contains(s, want) {
			t.Errorf("line %q lacks %q", s, want)
		}
	}
	if !strings.Contains(s, " INFO refused -- ") {
		t.Errorf("missing level and message: %q", s)
	}
}

func TestInjectionJSON(t *testing.T) {
	var out bytes.Buffer
	log := New(&out, FormatJSON, slog.LevelInfo)
	evil := "x\ny\x1b[31m"
	log.Info(Refused(Request{Command: "Connect", User: evil, Src: "s", Dst: "d", Service: "1"}), "user", evil, "err", errors.New("e\x1bz"))
	s := out.String()
	if strings.Count(s, "\n") != 1 {
		t.Fatalf("want one line, got %q", s)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"msg", "user", "err"} {
		v, _ := m[k].(string)
		if strings.ContainsAny(v, "\n\x1b") {
			t.Errorf("%s = %q still holds control bytes after decoding", k, v)
		}
	}
	if m["user"] != `x\ny\x1b[31m` {
		t.Errorf("user = %q", m["user"])
	}
}

func TestWithAttrsAndLevel(t *testing.T) {
	var out bytes.Buffer
	log := New(&out, FormatText, slog.LevelWarn).With("listen", "127.0.0.1:1080").WithGroup("s")
	log.Info("hidden")
	log.Warn("shown", "k", "")
	s := out.String()
	if strings.Contains(s, "hidden") {
		t.Errorf("info logged at warn level: %q", s)
	}
	if !strings.Contains(s, `WARN shown listen=127.0.0.1:1080 s.k=""`) {
		t.Errorf("got %q", s)
	}
}

func TestParseFormat(t *testing.T) {
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("xml accepted")
	}
	if f, err := ParseFormat("json"); err != nil || f != FormatJSON {
		t.Errorf("json: %v %v", f, err)
	}
}
