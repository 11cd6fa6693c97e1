package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/socksify/socksifytest"
	"github.com/sockd/sockd/internal/testnet"
)

var libBuilt testnet.Built

// buildLib builds libsocks.so and libsocks.a once for the tests.
func buildLib(t *testing.T) string {
	t.Helper()
	return libBuilt.Dir(t, "libsocks", func(dir string) error {
		for _, mode := range []struct{ mode, out string }{{"c-shared", "libsocks.so"}, {"c-archive", "libsocks.a"}} {
			out, err := exec.Command("go", "build", "-buildmode="+mode.mode, "-o", filepath.Join(dir, mode.out), ".").CombinedOutput()
			if err != nil {
				return fmt.Errorf("go build -buildmode=%s: %v\n%s", mode.mode, err, out)
			}
		}
		return nil
	})
}

func TestMain(m *testing.M) {
	code := m.Run()
	libBuilt.Remove()
	os.Exit(code)
}

// cc compiles src against socks.h: with the shared library, or (static)
// the archive.
func cc(t *testing.T, src string, static bool) string {
	t.Helper()
	lib := buildLib(t)
	bin := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	args := []string{"-Wall", "-I.", "-o", bin, src}
	if static {
		args = append(args, filepath.Join(lib, "libsocks.a"), "-lpthread")
	} else {
		args = append(args, "-L"+lib, "-lsocks", "-Wl,-rpath,"+lib)
	}
	if out, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
		t.Fatalf("cc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

func run(t *testing.T, env []string, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
	}
	return string(out)
}

// TestRconnect: blocking and non-blocking Rconnect, with the shared
// library and the archive, through sockd to 127.0.0.2; Rgetpeername
// names the destination, not the proxy.
func TestRconnect(t *testing.T) {
	proxy, logs := socksifytest.Sockd(t)
	env := []string{"SOCKS_CONF=" + socksifytest.SocksConf(t, proxy)}
	host, port := socksifytest.HTTP(t, "127.0.0.2")
	shared, static := cc(t, "testdata/demo.c", false), cc(t, "testdata/demo.c", true)
	for _, c := range []struct {
		name, bin, mode string
		want            []string
	}{
		{"blocking", shared, "connect", []string{"peer 127.0.0.2:" + port, "HTTP/1.0 200 OK", "hello from 127.0.0.2"}},
		{"nonblocking", shared, "nonblock", []string{"Rconnect: EINPROGRESS", "SO_ERROR 0", "peer 127.0.0.2:" + port, "HTTP/1.0 200 OK"}},
		{"archive", static, "connect", []string{"HTTP/1.0 200 OK", "hello from 127.0.0.2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := strings.Count(logs.String(), "connected -- ")
			out := run(t, env, c.bin, c.mode, host, port)
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
			logs.WaitCount(t, "connected -- Connect from (unknown)@127.0.0.1 to 127.0.0.2 ("+port+")", before+1)
		})
	}
}

// TestRemap: a program written with the plain names, SOCKS_REMAP defined,
// goes through sockd; its Unix socketpair is left alone.
func TestRemap(t *testing.T) {
	proxy, logs := socksifytest.Sockd(t)
	env := []string{"SOCKS_CONF=" + socksifytest.SocksConf(t, proxy)}
	host, port := socksifytest.HTTP(t, "127.0.0.2")
	out := run(t, env, cc(t, "testdata/remap.c", false), host, port)
	if !strings.Contains(out, "HTTP/1.0 200 OK") {
		t.Fatalf("output: %s", out)
	}
	logs.Wait(t, "to 127.0.0.2 ("+port+")")
}

// TestForkExec: the library keeps working around a fork and exec.
func TestForkExec(t *testing.T) {
	proxy, logs := socksifytest.Sockd(t)
	env := []string{"SOCKS_CONF=" + socksifytest.SocksConf(t, proxy)}
	host, port := socksifytest.HTTP(t, "127.0.0.2")
	out := run(t, env, cc(t, "testdata/demo.c", false), "forkexec", host, port)
	if strings.Count(out, "HTTP/1.0 200 OK") != 2 || !strings.Contains(out, "child exec ok") {
		t.Fatalf("output: %s", out)
	}
	logs.WaitCount(t, "to 127.0.0.2 ("+port+")", 2*2) // connected and terminated lines
}

// TestRbind: Rbind, Rlisten and Raccept receive one connection through
// sockd's BIND; a second Raccept finds none.
func TestRbind(t *testing.T) {
	proxy, logs := socksifytest.Sockd(t)
	bindDemo(t, cc(t, "testdata/demo.c", false), []string{"SOCKS_PROXY=socks5://" + proxy}, "")
	logs.Wait(t, "Bind from")
}

// TestDirectDeny: a direct line connects without sockd, a deny line fails
// with ECONNREFUSED.
func TestDirectDeny(t *testing.T) {
	proxy, logs := socksifytest.Sockd(t)
	env := []string{"SOCKS_CONF=" + socksifytest.SocksConf(t, proxy)}
	bin := cc(t, "testdata/demo.c", false)
	host, port := socksifytest.HTTP(t, "127.0.0.4")
	if out := run(t, env, bin, "connect", host, port); !strings.Contains(out, "hello from 127.0.0.4") {
		t.Fatalf("direct: %s", out)
	}
	dh, dp := socksifytest.HTTP(t, "127.0.0.3")
	cmd := exec.Command(bin, "connect", dh, dp)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Rconnect: Connection refused") {
		t.Fatalf("deny: %v\n%s", err, out)
	}
	time.Sleep(50 * time.Millisecond)
	if l := logs.String(); strings.Contains(l, "127.0.0.3") || strings.Contains(l, "127.0.0.4") {
		t.Fatalf("sockd saw a connection it should not have:\n%s", l)
	}
}

// TestChain: socks.conf sends 127.0.0.2 through server B, and B (on
// 127.0.0.6) through server A: Rconnect's socket goes to A, then B, then
// the destination, as both logs show.
func TestChain(t *testing.T) {
	a, alog := socksifytest.Sockd(t)
	b, blog := socksifytest.SockdOn(t, "127.0.0.6")
	conf := filepath.Join(t.TempDir(), "socks.conf")
	os.WriteFile(conf, []byte("sockd @=socks5://"+a+" 127.0.0.6 255.255.255.255\nsockd @=socks5://"+b+" 127.0.0.2 255.255.255.255\n"), 0o600)
	host, port := socksifytest.HTTP(t, "127.0.0.2")
	out := run(t, []string{"SOCKS_CONF=" + conf}, cc(t, "testdata/demo.c", false), "connect", host, port)
	if !strings.Contains(out, "hello from 127.0.0.2") {
		t.Fatalf("output: %s", out)
	}
	_, bport, _ := net.SplitHostPort(b)
	alog.Wait(t, "to 127.0.0.6 ("+bport+")")
	blog.Wait(t, "to 127.0.0.2 ("+port+")")
}

// bindDemo runs demo.c's "bind" mode (bin, with env added to ours): it
// connects from 127.0.0.5 to the address the program announces, sends a
// line and checks the program's report. wantIP, unless "", is the address
// the program must announce.
func bindDemo(t *testing.T, bin string, env []string, wantIP string) {
	t.Helper()
	cmd := exec.Command(bin, "bind")
	cmd.Env = append(os.Environ(), env...)
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	br := bufio.NewReader(stdout)
	line, err := br.ReadString('\n')
	var ip, port string
	if _, e := fmt.Sscanf(line, "listening %s %s", &ip, &port); err != nil || e != nil {
		t.Fatalf("no address: %q %v; stderr: %s", line, err, stderr.String())
	}
	if wantIP != "" && ip != wantIP {
		t.Fatalf("listening on %s: not sockd's address", ip)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}, Timeout: 20 * time.Second}
	peer, err := d.Dial("tcp", net.JoinHostPort(ip, port))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(peer, "line from the peer\n")
	rest := new(strings.Builder)
	for range 3 {
		l, err := br.ReadString('\n')
		rest.WriteString(l)
		if err != nil {
			break
		}
	}
	peer.Close()
	cmd.Wait()
	for _, w := range []string{"accepted from 127.0.0.5", "read line from the peer", "second Raccept: EAGAIN"} {
		if !strings.Contains(rest.String(), w) {
			t.Fatalf("output lacks %q:\n%s\nstderr: %s", w, rest.String(), stderr.String())
		}
	}
}
