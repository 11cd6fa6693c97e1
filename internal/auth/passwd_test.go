package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestSetAndVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	if err := SetPassword(path, "alice", "s3cret", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(path, "bob", "hunter2", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "s3cret") || strings.Contains(string(data), "hunter2") {
		t.Fatalf("password stored in clear: %q", data)
	}
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 2 || !p.Has("alice") || !p.Has("bob") {
		t.Fatalf("users: %d", p.Len())
	}
	checks := []struct {
		user, pass string
		ok         bool
	}{
		{"alice", "s3cret", true},
		{"alice", "S3cret", false},
		{"alice", "", false},
		{"bob", "hunter2", true},
		{"bob", "s3cret", false},
		{"carol", "s3cret", false},
		{"alice", "s3cret" + strings.Repeat("x", 80), false},
	}
	for _, c := range checks {
		if got := p.Verify(c.user, c.pass); got != c.ok {
			t.Errorf("Verify(%q, %q) = %v, want %v", c.user, c.pass, got, c.ok)
		}
	}

	// Updating keeps the other entry and the comment, and changes only alice.
	if err := os.WriteFile(path, append([]byte("# users of the proxy\n"), data...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(path, "alice", "changed", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	p, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Verify("alice", "s3cret") || !p.Verify("alice", "changed") || !p.Verify("bob", "hunter2") {
		t.Error("update did not replace exactly alice's password")
	}
	data, _ = os.ReadFile(path)
	if !strings.HasPrefix(string(data), "# users of the proxy\n") || strings.Count(string(data), "alice:") != 1 {
		t.Errorf("file after update: %q", data)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestParseErrors(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	good := "u:" + string(hash) + "\n"
	cases := map[string]string{
		"no colon":   "justaname\n",
		"bad hash":   "u:plaintext\n",
		"duplicate":  good + good,
		"empty user": ":" + string(hash) + "\n",
	}
	for name, text := range cases {
		if _, err := Parse("f", []byte(text)); err == nil {
			t.Errorf("%s: accepted %q", name, text)
		} else if !strings.HasPrefix(err.Error(), "f:") {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	p, err := Parse("f", []byte("# comment\n\n"+good))
	if err != nil || p.Len() != 1 {
		t.Fatalf("good file: %v", err)
	}
}

func TestSetPasswordRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	for _, c := range []struct{ user, pass string }{
		{"", "x"}, {"a:b", "x"}, {"a b", "x"}, {"a\nb", "x"}, {"ok", ""}, {"ok", strings.Repeat("p", 73)},
		{strings.Repeat("u", 256), "x"},
	} {
		if err := SetPassword(path, c.user, c.pass, bcrypt.MinCost); err == nil {
			t.Errorf("SetPassword(%q, %q) accepted", c.user, c.pass)
		}
	}
	if err := os.WriteFile(path, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(path, "ok", "pw", bcrypt.MinCost); err == nil {
		t.Error("rewrote a damaged file")
	}
}
