package dist

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockd/sockd/internal/socksify/socksifytest"
)

// TestInstalledLibsocks: make install puts libsocks (shared and archive),
// libsockswrap, socks.h and socks.pc under PREFIX; a C program builds with
// pkg-config against them and reaches 127.0.0.2 through sockd, and the
// installed wrapper finds the installed socks binary as its helper.
func TestInstalledLibsocks(t *testing.T) {
	for _, f := range []string{"lib/libsocks.so", "lib/libsocks.a", "lib/libsockswrap.so", "include/socks.h", "lib/pkgconfig/socks.pc", "bin/socks"} {
		if _, err := os.Stat(filepath.Join(prefix, f)); err != nil {
			t.Fatalf("not installed: %v", err)
		}
	}
	proxy, logs := socksifytest.Sockd(t)
	conf := socksifytest.SocksConf(t, proxy)
	host, port := socksifytest.HTTP(t, "127.0.0.2")

	pc := exec.Command("pkg-config", "--cflags", "--libs", "socks")
	pc.Env = append(os.Environ(), "PKG_CONFIG_PATH="+filepath.Join(prefix, "lib/pkgconfig"))
	flags, err := pc.Output()
	if err != nil {
		t.Fatalf("pkg-config: %v", err)
	}
	if !strings.Contains(string(flags), "-I"+filepath.Join(prefix, "include")) || !strings.Contains(string(flags), "-lsocks") {
		t.Fatalf("pkg-config --cflags --libs socks: %s", flags)
	}
	bin := filepath.Join(t.TempDir(), "demo")
	args := append([]string{"-o", bin, "../lib/libsocks/testdata/demo.c"}, strings.Fields(string(flags))...)
	args = append(args, "-Wl,-rpath,"+filepath.Join(prefix, "lib"))
	if out, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
		t.Fatalf("cc %v: %v\n%s", args, err, out)
	}
	cmd := exec.Command(bin, "connect", host, port)
	cmd.Env = append(os.Environ(), "SOCKS_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "hello from 127.0.0.2") {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	logs.Wait(t, "to 127.0.0.2 ("+port+")")

	curl := exec.Command("curl", "-sS", "--max-time", "60", "http://"+host+":"+port+"/")
	curl.Env = append(os.Environ(), "SOCKS_CONF="+conf, "LD_PRELOAD="+filepath.Join(prefix, "lib/libsockswrap.so"), "SOCKS_WRAP_IDLE=2s")
	before := strings.Count(logs.String(), "connected -- Connect from")
	if out, err := curl.CombinedOutput(); err != nil || !strings.Contains(string(out), "hello from 127.0.0.2") {
		t.Fatalf("curl under the installed wrapper: %v\n%s", err, out)
	}
	logs.WaitCount(t, "connected -- Connect from", before+1)
}
