package cli

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sockd/sockd/grammar"
	"github.com/sockd/sockd/internal/diag"
)

var updateMan = flag.Bool("update-man", false, "rewrite docs/man/*.8 from the commands")

const manDir = "../../docs/man"

// TestManPagesInSync: the committed section 8 pages are exactly what the
// commands generate today; a changed flag or help text without
// regenerated pages (go run ./internal/cli/genman) fails here.
func TestManPagesInSync(t *testing.T) {
	if *updateMan {
		old, _ := filepath.Glob(filepath.Join(manDir, "*.8"))
		for _, f := range old {
			os.Remove(f)
		}
		if err := GenerateMan(manDir); err != nil {
			t.Fatal(err)
		}
	}
	tmp := t.TempDir()
	if err := GenerateMan(tmp); err != nil {
		t.Fatal(err)
	}
	gen, _ := filepath.Glob(filepath.Join(tmp, "*.8"))
	have, _ := filepath.Glob(filepath.Join(manDir, "*.8"))
	names := func(l []string) string {
		var out []string
		for _, p := range l {
			out = append(out, filepath.Base(p))
		}
		return strings.Join(out, " ")
	}
	if names(gen) != names(have) {
		t.Fatalf("docs/man has %s\ngenerated %s\nrun: go run ./internal/cli/genman docs/man", names(have), names(gen))
	}
	for _, g := range gen {
		want, _ := os.ReadFile(g)
		got, _ := os.ReadFile(filepath.Join(manDir, filepath.Base(g)))
		if !bytes.Equal(got, want) {
			t.Errorf("docs/man/%s is out of date: run go run ./internal/cli/genman docs/man", filepath.Base(g))
		}
	}
	for _, tool := range ManTools {
		if _, err := os.Stat(filepath.Join(manDir, tool+".8")); err != nil {
			t.Errorf("no page for %s: %v", tool, err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(manDir, "sockd.8"))
	for _, flag := range []string{"--check", "--print-config", "--metrics-listen", "--proxy-protocol", "--user", "--log-file", "--version"} {
		if !strings.Contains(string(b), `\fB`+flag+`\fP`) {
			t.Errorf("sockd.8 does not document %s", flag)
		}
	}
}

// TestManPagesRender: every page, generated or hand-written, renders
// without a groff warning.
func TestManPagesRender(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Fatal("groff is needed to check the man pages (apt-get install groff-base)")
	}
	pages, _ := filepath.Glob(filepath.Join(manDir, "*.[58]"))
	if len(pages) < 10 {
		t.Fatalf("only %d pages under docs/man", len(pages))
	}
	for _, p := range pages {
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", p)
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
		out, err := cmd.CombinedOutput()
		if err != nil || len(out) != 0 {
			t.Errorf("%s: %v %s", p, err, out)
		}
	}
}

// TestHandWrittenPagesExamples: the EXAMPLES of sockd.conf(5),
// sockd.route(5) and socks.conf(5) are files the compiler accepts, so the
// pages cannot drift from the grammar.
func TestHandWrittenPagesExamples(t *testing.T) {
	parse := map[string]func(src []byte) diag.List{
		"sockd.conf.5": func(src []byte) diag.List {
			_, l := grammar.ParseSockd("example", src, grammar.Options{})
			return l
		},
		"sockd.route.5": func(src []byte) diag.List {
			_, l := grammar.ParseRoute("example", src, grammar.Options{})
			return l
		},
		"socks.conf.5": func(src []byte) diag.List {
			_, l := grammar.ParseSocks("example", src, grammar.Options{})
			return l
		},
	}
	example := regexp.MustCompile(`(?s)\.SH EXAMPLES\n\.nf\n(.*?)\.fi\n`)
	for page, p := range parse {
		b, err := os.ReadFile(filepath.Join(manDir, page))
		if err != nil {
			t.Fatal(err)
		}
		m := example.FindSubmatch(b)
		if m == nil {
			t.Errorf("%s: no EXAMPLES block", page)
			continue
		}
		src := strings.ReplaceAll(string(m[1]), `\-`, "-")
		if strings.Contains(src, `\`) {
			t.Errorf("%s: an unhandled roff escape in the example: %q", page, src)
		}
		if l := p([]byte(src)); l.HasErrors() {
			var buf bytes.Buffer
			l.WriteText(&buf)
			t.Errorf("%s: the example does not compile:\n%s", page, buf.String())
		}
	}
}
