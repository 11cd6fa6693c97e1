package client

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSrelayPasswd(t *testing.T) {
	src := "# this line is comment.\n; so is this\n123.234.0.1\t\thogehoga\txyz$12#\n10.11.22.1/1080\t\topopop\t\ttutut555\n" +
		"[::1]:1081 six pw\nproxy.example,alice,s3cret\n"
	c, err := ParseSrelayPasswd("srelay.passwd", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		u          Upstream
		user, pass string
	}{
		{Upstream{Scheme: "socks5h", Host: "123.234.0.1", Port: 1080}, "hogehoga", "xyz$12"},
		{Upstream{Scheme: "http", Host: "123.234.0.1", Port: 8080}, "hogehoga", "xyz$12"},
		{Upstream{Scheme: "socks5h", Host: "10.11.22.1", Port: 1080}, "opopop", "tutut555"},
		{Upstream{Scheme: "socks5h", Host: "10.11.22.1", Port: 1081}, "", ""},
		{Upstream{Scheme: "socks5h", Host: "::1", Port: 1081}, "six", "pw"},
		{Upstream{Scheme: "socks5h", Host: "PROXY.example", Port: 1080}, "alice", "s3cret"},
	} {
		got := c.Apply(tc.u)
		if got.User != tc.user || got.Password != tc.pass {
			t.Errorf("%v: got %q/%q, want %q/%q", tc.u, got.User, got.Password, tc.user, tc.pass)
		}
	}
	for _, bad := range []string{"host only\n", "10.0.0.1/99999 u p\n", "[::1 u p\n"} {
		if _, err := ParseSrelayPasswd("p", []byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "p:1: ") {
			t.Errorf("%q: got %v, want an error at p:1", bad, err)
		}
	}
}

func TestSrelayPasswdMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "srelay.passwd")
	if err := os.WriteFile(p, []byte("10.0.0.1 u p\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSrelayPasswd(p); err == nil || !strings.Contains(err.Error(), "chmod go-rwx") {
		t.Fatalf("group-readable file: got %v", err)
	}
	os.Chmod(p, 0o600)
	if c, err := LoadSrelayPasswd(p); err != nil || c.Len() != 1 {
		t.Fatalf("mode 0600: %v", err)
	}
}

// FuzzSrelayPasswd: any file parses or fails with an error naming its
// line; what parses gives credentials without panicking.
func FuzzSrelayPasswd(f *testing.F) {
	f.Add([]byte("# c\n123.234.0.1\t\thogehoga\txyz$12#\n10.11.22.1/1080\topopop\ttutut555\n[::1]:1 a b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseSrelayPasswd("p", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "p:") {
				t.Fatalf("error without its place: %v", err)
			}
			return
		}
		c.Apply(Upstream{Scheme: "socks5h", Host: "10.11.22.1", Port: 1080})
	})
}
