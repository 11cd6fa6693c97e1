package load

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/sockd/sockd/frozen"
	"github.com/sockd/sockd/grammar"
	"github.com/sockd/sockd/internal/diag"
	"github.com/sockd/sockd/policy"
)

// The embedded default must permit loopback clients, IPv4 and IPv6, and
// nobody else: it is what a fresh install runs.
func TestEmbeddedDefaultPermitsLoopbackOnly(t *testing.T) {
	c, l := grammar.ParseSockd(EmbeddedName, DefaultRules(), grammar.Options{})
	if l.HasErrors() {
		t.Fatal(l.Err())
	}
	p, err := policy.New(c, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]bool{
		"127.0.0.1": true, "127.9.9.9": true, "::1": true,
		"10.0.0.1": false, "192.168.1.1": false, "2001:db8::1": false, "::2": false,
	} {
		req := &policy.Request{Command: policy.CmdConnect, SrcIP: netip.MustParseAddr(src), DstIP: netip.MustParseAddr("192.0.2.1"), DstPort: 80}
		if d := p.Decide(req, nil); d.Permit != want {
			t.Errorf("client %s: permit = %v, want %v", src, d.Permit, want)
		}
	}
}

func TestTextAndFrozenLoadTheSameRules(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "sockd.conf")
	src := []byte("permit 10.0.0.0/8 0.0.0.0 0.0.0.0 eq 80\ndeny 0.0.0.0 0.0.0.0\n")
	os.WriteFile(text, src, 0o644)
	c1, o1, err := Sockd(text, Options{})
	if err != nil || o1.Frozen || o1.Embedded {
		t.Fatalf("text: %v %+v", err, o1)
	}
	fc := filepath.Join(dir, "sockd.fc")
	data, err := frozen.Encode(&frozen.File{Kind: frozen.KindSockdFC, Meta: frozen.Meta{Source: "sockd.conf", SourceSHA256: frozen.HashSource(src), Compiler: "test"}, Sockd: c1})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(fc, data, 0o644)
	c2, o2, err := Sockd(fc, Options{})
	if err != nil || !o2.Frozen || o2.StaleWarning() != "" {
		t.Fatalf("frozen: %v %+v", err, o2)
	}
	if len(c2.Rules) != 2 || c2.Rules[0].Canonical() != c1.Rules[0].Canonical() {
		t.Errorf("frozen rules differ: %v", c2.Rules)
	}
	// The checksum names the content: the whole text file's SHA-256, and
	// for a frozen file the checksum its header records (the SHA-256 of
	// the file without that field), which Decode verified.
	if want := sha256.Sum256(src); o1.Checksum != hex.EncodeToString(want[:]) {
		t.Errorf("text checksum %s, want the SHA-256 of the file", o1.Checksum)
	}
	h := sha256.New()
	h.Write(data[:20])
	h.Write(data[frozen.HeaderSize:])
	if want := hex.EncodeToString(h.Sum(nil)); o2.Checksum != want || o2.Checksum != hex.EncodeToString(data[20:frozen.HeaderSize]) {
		t.Errorf("frozen checksum %s, want the header's %s", o2.Checksum, want)
	}
	// Editing the text file makes the frozen file stale, and says so.
	os.WriteFile(text, append(src, "# edited\n"...), 0o644)
	if _, o3, _ := Sockd(fc, Options{}); o3.StaleWarning() == "" {
		t.Errorf("no stale warning after the text changed")
	}
	// A route file is not a rule file.
	if _, _, err := Route(fc, Options{}); !errors.Is(err, frozen.ErrWrongKind) {
		t.Errorf("Route(sockd.fc) = %v, want ErrWrongKind", err)
	}
}

func TestErrorsAreDiagnosticsOrMissingFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("permit 10.0.0.0 255.0.0.0 eq\n"), 0o644)
	_, _, err := Sockd(bad, Options{})
	if l := diag.List(nil); !errors.As(err, &l) || len(l) != 1 || l[0].Line != 1 {
		t.Errorf("want one positioned diagnostic, got %v", err)
	}
	if _, _, err := Sockd(filepath.Join(dir, "none.conf"), Options{}); !errors.Is(err, ErrNoFile) {
		t.Errorf("missing file: %v", err)
	}
}
