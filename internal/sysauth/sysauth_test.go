package sysauth

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// systemUser creates a real account of this machine with password pw,
// hashed by chpasswd with method ("" = the system's default, yescrypt on
// Debian 12), and removes it when the test ends. It returns the name and
// the hash prefix /etc/shadow holds.
func systemUser(t *testing.T, pw, method string) (string, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating a system user needs root")
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("no useradd")
	}
	name := fmt.Sprintf("sockdt%d", os.Getpid()%100000)
	if method != "" {
		name += strings.ToLower(method[:1])
	}
	if out, err := exec.Command("useradd", "-M", "-s", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	args := []string{}
	if method != "" {
		args = append(args, "-c", method)
	}
	cmd := exec.Command("chpasswd", args...)
	cmd.Stdin = strings.NewReader(name + ":" + pw + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v %s", err, out)
	}
	shadow, err := os.ReadFile("/etc/shadow")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(shadow), "\n") {
		if f := strings.Split(l, ":"); len(f) > 1 && f[0] == name {
			return name, f[1][:3]
		}
	}
	t.Fatalf("%s not in /etc/shadow", name)
	return "", ""
}

func TestHostAccounts(t *testing.T) {
	if !Available() {
		t.Skip("built without cgo")
	}
	for _, tc := range []struct{ method, prefix string }{{"", "$y$"}, {"SHA512", "$6$"}} {
		t.Run(tc.prefix, func(t *testing.T) {
			name, prefix := systemUser(t, "s3cret pw", tc.method)
			if prefix != tc.prefix {
				t.Fatalf("shadow hash starts %q, want %q", prefix, tc.prefix)
			}
			c := New("sockd")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.Check(ctx, name, "s3cret pw"); err != nil {
				t.Fatalf("right password refused: %v", err)
			}
			start := time.Now()
			if err := c.Check(ctx, name, "wrong"); err != ErrDenied {
				t.Fatalf("wrong password: %v, want ErrDenied", err)
			}
			wrong := time.Since(start)
			start = time.Now()
			if err := c.Check(ctx, name+"nobody", "s3cret pw"); err != ErrDenied {
				t.Fatalf("unknown user: %v, want ErrDenied", err)
			}
			// Reported, not asserted: timing depends on the machine's load.
			t.Logf("failure took %v for a wrong password, %v for an unknown user", wrong, time.Since(start))
			if err := c.Check(ctx, name, "s3cret pw\x00x"); err != ErrDenied {
				t.Fatalf("password with NUL: %v, want ErrDenied", err)
			}
		})
	}
}
