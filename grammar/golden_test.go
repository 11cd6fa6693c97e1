package grammar

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/diag"

	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite the golden sections of testdata/*.txtar")

// compileAny compiles src as the file kind its name says, returning the
// canonical text ("" when it did not compile) and the diagnostics.
func compileAny(t testing.TB, name string, src []byte) (string, diag.List) {
	t.Helper()
	switch name {
	case "sockd.conf":
		return compileTo(name, src, ParseSockd, config.WriteSockd)
	case "sockd.route":
		return compileTo(name, src, ParseRoute, config.WriteRoute)
	case "socks.conf":
		return compileTo(name, src, ParseSocks, config.WriteSocks)
	case "srelay.conf":
		return compileTo(name, src, ParseSrelay, writeSrelayRoutes)
	}
	t.Fatalf("no parser for %s", name)
	return "", nil
}

// compileTo compiles src with parse and, when it compiles, writes its
// canonical text with write.
func compileTo[C any](name string, src []byte, parse func(string, []byte, Options) (*C, diag.List), write func(io.Writer, *C) error) (string, diag.List) {
	c, d := parse(name, src, testOptions())
	if c == nil {
		return "", d
	}
	return string(canonical(c, write)), d
}

// TestGolden compiles the input file of each testdata/*.txtar archive and
// compares the diagnostics and the canonical text with the archive's
// "diagnostics" and "canonical" sections. -update rewrites those sections.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var input *txtar.File
			for i := range ar.Files {
				switch ar.Files[i].Name {
				case "sockd.conf", "sockd.route", "socks.conf", "srelay.conf":
					input = &ar.Files[i]
				}
			}
			if input == nil {
				t.Fatal("archive has no sockd.conf, sockd.route or socks.conf")
			}
			canonical, diags := compileAny(t, input.Name, input.Data)
			var dtext bytes.Buffer
			diags.WriteText(&dtext)
			checkInvariants(t, input.Data, diags)
			if canonical != "" && input.Name != "srelay.conf" { // srelay.conf has no canonical text of its own
				// The canonical text must compile to itself, cleanly.
				again, d2 := compileAny(t, input.Name, []byte(canonical))
				if d2.HasErrors() || again != canonical {
					t.Errorf("canonical text does not round-trip:\n%s\ngave:\n%s\n%v", canonical, again, d2)
				}
			}
			got := map[string]string{"diagnostics": dtext.String(), "canonical": canonical}
			if *update {
				setSection(ar, "diagnostics", got["diagnostics"])
				setSection(ar, "canonical", got["canonical"])
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, name := range []string{"diagnostics", "canonical"} {
				want, ok := section(ar, name)
				if !ok {
					t.Errorf("archive has no %q section (run with -update)", name)
					continue
				}
				if want != got[name] {
					t.Errorf("%s differ\n--- want\n%s--- got\n%s", name, want, got[name])
				}
			}
		})
	}
}

func section(ar *txtar.Archive, name string) (string, bool) {
	for _, f := range ar.Files {
		if f.Name == name {
			return string(f.Data), true
		}
	}
	return "", false
}

func setSection(ar *txtar.Archive, name, data string) {
	for i := range ar.Files {
		if ar.Files[i].Name == name {
			ar.Files[i].Data = []byte(data)
			return
		}
	}
	ar.Files = append(ar.Files, txtar.File{Name: name, Data: []byte(data)})
}

// checkInvariants asserts what every diagnostic must carry: position,
// source line text, sorted order, at most one error per line.
func checkInvariants(t testing.TB, src []byte, diags diag.List) {
	t.Helper()
	lines := strings.Split(string(src), "\n")
	errLines := map[int]bool{}
	for i, d := range diags {
		where := fmt.Sprintf("diagnostic %d (%s)", i, d.Header())
		if d.File == "" || d.Line < 1 || d.Col < 1 || d.Message == "" {
			t.Errorf("%s: missing file, line, col or message", where)
			continue
		}
		if d.Line > len(lines) || d.Source != strings.TrimSuffix(lines[d.Line-1], "\r") {
			t.Errorf("%s: Source %q is not line %d of the input", where, d.Source, d.Line)
		}
		if d.Col > len(d.Source)+1 {
			t.Errorf("%s: column past the end of the line", where)
		}
		if d.EndCol != 0 && d.EndCol <= d.Col {
			t.Errorf("%s: EndCol %d not after Col %d", where, d.EndCol, d.Col)
		}
		if d.Severity == diag.Error {
			if errLines[d.Line] {
				t.Errorf("%s: a second error on line %d", where, d.Line)
			}
			errLines[d.Line] = true
		}
		if i > 0 {
			p := diags[i-1]
			if p.Line > d.Line || p.Line == d.Line && p.Col > d.Col {
				t.Errorf("%s: not sorted after %s", where, p.Header())
			}
		}
	}
}

// writeSrelayRoutes prints the rules a srelay.conf compiled to: the
// socks.conf form of each, and its chain nearest hop first.
func writeSrelayRoutes(w io.Writer, c *config.SocksConf) error {
	for _, r := range c.Rules {
		fmt.Fprintf(w, "%d: %s", r.Pos.Line, r.Canonical())
		if r.PortMax != 0 {
			fmt.Fprintf(w, " le %d", r.PortMax)
		}
		for _, s := range r.Servers {
			path := []string{}
			for i := len(s.Via) - 1; i >= 0; i-- {
				path = append(path, s.Via[i].Scheme+"://"+net.JoinHostPort(s.Via[i].Host, strconv.Itoa(int(s.Via[i].Port))))
			}
			path = append(path, s.Scheme+"://"+net.JoinHostPort(s.Host, strconv.Itoa(int(s.Port))))
			fmt.Fprintf(w, "   # chain: %s", strings.Join(path, " -> "))
		}
		fmt.Fprintln(w)
	}
	return nil
}
