package grammar

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sockd/sockd/config"

	"github.com/rogpeppe/go-internal/txtar"
)

// ignorePosText drops what the canonical text re-derives: positions and
// the source text.
var ignorePosText = cmp.Options{
	cmpOpts,
	cmpopts.IgnoreFields(config.Rule{}, "Pos", "Text"),
	cmpopts.IgnoreFields(config.Special{}, "Pos", "Text"),
	cmpopts.IgnoreFields(config.Route{}, "Pos", "Text"),
	cmpopts.IgnoreFields(config.ClientRule{}, "Pos", "Text"),
}

// seedFuzz adds the inputs of the golden files of one kind as seeds.
func seedFuzz(f *testing.F, name string) {
	files, _ := filepath.Glob("testdata/*.txtar")
	for _, file := range files {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, af := range ar.Files {
			if af.Name == name {
				f.Add(af.Data)
			}
		}
	}
	if name == "sockd.conf" {
		if b, err := os.ReadFile("testdata/legacy43.conf"); err == nil {
			f.Add(b)
		}
	}
}

// roundTrip is the fuzz property shared by the three files: the parser
// never panics, its diagnostics are well formed, and when the file
// compiles, its canonical text compiles to the same model and prints the
// same text again.
func roundTrip[C any](t *testing.T, name string, src []byte, parse func(string, []byte, Options) (*C, []byte), write func(*C) []byte) {
	t.Helper()
	conf, _ := parse(name, src, testOptions())
	if conf == nil {
		return
	}
	text := write(conf)
	again, diags := parse(name, text, testOptions())
	if again == nil {
		t.Fatalf("canonical text does not compile:\n%s\n%s", text, diags)
	}
	if d := cmp.Diff(conf, again, ignorePosText); d != "" {
		t.Fatalf("canonical text compiles to another model (-first +again):\n%s\ntext:\n%s", d, text)
	}
	if text2 := write(again); !bytes.Equal(text, text2) {
		t.Fatalf("formatting is not stable:\n%s\n---\n%s", text, text2)
	}
}

func FuzzParseSockd(f *testing.F) {
	seedFuzz(f, "sockd.conf")
	f.Fuzz(func(t *testing.T, src []byte) {
		_, diags := ParseSockd("sockd.conf", src, testOptions())
		checkInvariants(t, src, diags)
		roundTrip(t, "sockd.conf", src,
			func(n string, b []byte, o Options) (*config.SockdConf, []byte) {
				c, d := ParseSockd(n, b, o)
				return c, diagText(d)
			},
			func(c *config.SockdConf) []byte { var b bytes.Buffer; config.WriteSockd(&b, c); return b.Bytes() })
	})
}

func FuzzParseRoute(f *testing.F) {
	seedFuzz(f, "sockd.route")
	f.Fuzz(func(t *testing.T, src []byte) {
		_, diags := ParseRoute("sockd.route", src, testOptions())
		checkInvariants(t, src, diags)
		roundTrip(t, "sockd.route", src,
			func(n string, b []byte, o Options) (*config.RouteConf, []byte) {
				c, d := ParseRoute(n, b, o)
				return c, diagText(d)
			},
			func(c *config.RouteConf) []byte { var b bytes.Buffer; config.WriteRoute(&b, c); return b.Bytes() })
	})
}

func FuzzParseSocks(f *testing.F) {
	seedFuzz(f, "socks.conf")
	f.Fuzz(func(t *testing.T, src []byte) {
		_, diags := ParseSocks("socks.conf", src, testOptions())
		checkInvariants(t, src, diags)
		roundTrip(t, "socks.conf", src,
			func(n string, b []byte, o Options) (*config.SocksConf, []byte) {
				c, d := ParseSocks(n, b, o)
				return c, diagText(d)
			},
			func(c *config.SocksConf) []byte { var b bytes.Buffer; config.WriteSocks(&b, c); return b.Bytes() })
	})
}
