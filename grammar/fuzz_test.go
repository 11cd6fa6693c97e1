package grammar

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/diag"

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

// fuzzParse is the fuzz target of one kind of file, seeded with the golden
// inputs of that kind: the parser never panics, its diagnostics are well
// formed, and when the file compiles, its canonical text compiles to the
// same model and prints the same text again.
func fuzzParse[C any](f *testing.F, name string, parse func(string, []byte, Options) (*C, diag.List), write func(io.Writer, *C) error) {
	seedFuzz(f, name)
	f.Fuzz(func(t *testing.T, src []byte) {
		conf, diags := parse(name, src, testOptions())
		checkInvariants(t, src, diags)
		if conf != nil {
			roundTrip(t, name, conf, parse, write)
		}
	})
}

// roundTrip checks that conf's canonical text compiles to the same model
// and prints the same text again.
func roundTrip[C any](t *testing.T, name string, conf *C, parse func(string, []byte, Options) (*C, diag.List), write func(io.Writer, *C) error) {
	t.Helper()
	text := canonical(conf, write)
	again, diags := parse(name, text, testOptions())
	if again == nil {
		t.Fatalf("canonical text does not compile:\n%s\n%s", text, diagText(diags))
	}
	if d := cmp.Diff(conf, again, ignorePosText); d != "" {
		t.Fatalf("canonical text compiles to another model (-first +again):\n%s\ntext:\n%s", d, text)
	}
	if text2 := canonical(again, write); !bytes.Equal(text, text2) {
		t.Fatalf("formatting is not stable:\n%s\n---\n%s", text, text2)
	}
}

func canonical[C any](conf *C, write func(io.Writer, *C) error) []byte {
	var b bytes.Buffer
	write(&b, conf)
	return b.Bytes()
}

func FuzzParseSockd(f *testing.F) { fuzzParse(f, "sockd.conf", ParseSockd, config.WriteSockd) }

func FuzzParseRoute(f *testing.F) { fuzzParse(f, "sockd.route", ParseRoute, config.WriteRoute) }

func FuzzParseSocks(f *testing.F) { fuzzParse(f, "socks.conf", ParseSocks, config.WriteSocks) }
