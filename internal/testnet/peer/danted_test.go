package peer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteDanted(t *testing.T) {
	dir := t.TempDir()
	const rules = "socks pass {\n\tfrom: 127.0.0.0/8 to: 127.0.0.0/8\n}\n"
	args, err := WriteDanted(dir, "1080", "username", rules)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "danted.conf")
	if want := []string{"-f", conf, "-p", filepath.Join(dir, "danted.pid")}; strings.Join(args, " ") != strings.Join(want, " ") {
		t.Errorf("arguments %q, want %q", args, want)
	}
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{"logoutput: " + filepath.Join(dir, "danted.log") + "\n", "internal: 127.0.0.1 port = 1080\n", "socksmethod: username\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("danted.conf lacks %q:\n%s", want, text)
		}
	}
	if !strings.HasSuffix(text, "}\n"+rules) {
		t.Errorf("danted.conf does not end with the rules:\n%s", text)
	}
}
