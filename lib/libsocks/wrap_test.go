package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/socksify/socksifytest"
)

var (
	wrapOnce          sync.Once
	wrapLib, socksBin string
	wrapErr           error
)

// buildWrap builds libsockswrap.so with the system cc and the socks
// binary (its helper) once.
func buildWrap(t *testing.T) (string, string) {
	t.Helper()
	lib := buildLib(t)
	wrapOnce.Do(func() {
		wrapLib = filepath.Join(lib, "libsockswrap.so")
		socksBin = filepath.Join(lib, "socks")
		if out, err := exec.Command("cc", "-Wall", "-shared", "-fPIC", "-O2", "-o", wrapLib, "../sockswrap/sockswrap.c", "-ldl", "-lpthread").CombinedOutput(); err != nil {
			wrapErr = fmt.Errorf("cc libsockswrap: %v\n%s", err, out)
			return
		}
		if out, err := exec.Command("go", "build", "-o", socksBin, "github.com/sockd/sockd/cmd/socks").CombinedOutput(); err != nil {
			wrapErr = fmt.Errorf("go build socks: %v\n%s", err, out)
		}
	})
	if wrapErr != nil {
		t.Fatal(wrapErr)
	}
	return wrapLib, socksBin
}

// wrapEnv is the environment of a program under the wrapper; the helper
// daemons the tests start exit after two idle seconds.
func wrapEnv(t *testing.T, proxy string) []string {
	lib, helper := buildWrap(t)
	return []string{"LD_PRELOAD=" + lib, "SOCKS_WRAP_HELPER=" + helper, "SOCKS_CONF=" + socksifytest.SocksConf(t, proxy), "SOCKS_WRAP_IDLE=2s"}
}

// TestWrapUnmodified: curl with no proxy flags, python3's urllib and nc,
// with LD_PRELOAD=libsockswrap.so, reach 127.0.0.2 through sockd.
//
// Twice: through the helper daemon (the default), and with a helper
// started for each connect (SOCKS_WRAP_NO_DAEMON, as with SOCKS_DEBUG).
func TestWrapUnmodified(t *testing.T) {
	t.Run("daemon", func(t *testing.T) { testWrapUnmodified(t, nil) })
	t.Run("helper-per-connect", func(t *testing.T) { testWrapUnmodified(t, []string{"SOCKS_WRAP_NO_DAEMON=1"}) })
}

func testWrapUnmodified(t *testing.T, extra []string) {
	proxy, logs := socksifytest.Sockd(t)
	env := append(wrapEnv(t, proxy), extra...)
	host, port := socksifytest.HTTP(t, "127.0.0.2")
	url := "http://" + host + ":" + port + "/"
	for _, c := range []struct {
		name string
		argv []string
	}{
		{"curl", []string{"curl", "-sS", "--max-time", "60", "-w", "peer %{remote_ip}:%{remote_port}\n", url}},
		{"python3", []string{"/usr/bin/python3", "-c", "import urllib.request as u, sys; sys.stdout.write(u.urlopen(sys.argv[1], timeout=60).read().decode())", url}},
		{"nc", []string{"sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -N -w 30 " + host + " " + port}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := strings.Count(logs.String(), "connected -- Connect from (unknown)@127.0.0.1 to 127.0.0.2 ("+port+")")
			out := run(t, env, c.argv[0], c.argv[1:]...)
			if !strings.Contains(out, "hello from 127.0.0.2") {
				t.Fatalf("output: %s", out)
			}
			// curl reports what getpeername says: the destination, not sockd.
			if c.name == "curl" && !strings.Contains(out, "peer 127.0.0.2:"+port) {
				t.Fatalf("getpeername does not name the destination: %s", out)
			}
			logs.WaitCount(t, "connected -- Connect from (unknown)@127.0.0.1 to 127.0.0.2 ("+port+")", before+1)
		})
	}
}

// TestWrapForks: a program that connects, forks without exec and connects
// in the child, then forks and execs curl: all three go through sockd.
func TestWrapForks(t *testing.T) {
	proxy, logs := socksifytest.Sockd(t)
	env := wrapEnv(t, proxy)
	host, port := socksifytest.HTTP(t, "127.0.0.2")
	bin := filepath.Join(t.TempDir(), "forks")
	if out, err := exec.Command("cc", "-Wall", "-o", bin, "testdata/forks.c").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	out := run(t, env, bin, host, port, "curl", "-sS", "--max-time", "60", "http://"+host+":"+port+"/")
	for _, w := range []string{"parent: HTTP/1.0 200 OK", "forked child: HTTP/1.0 200 OK", "hello from 127.0.0.2"} {
		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q:\n%s", w, out)
		}
	}
	logs.WaitCount(t, "connected -- Connect from (unknown)@127.0.0.1 to 127.0.0.2 ("+port+")", 3)
}

// TestWrapBind: an unmodified program's bind to port 0, listen and accept
// become one BIND through sockd; a second accept finds nothing.
func TestWrapBind(t *testing.T) {
	proxy, logs := socksifytest.Sockd(t)
	lib, helper := buildWrap(t)
	bin := filepath.Join(t.TempDir(), "plaindemo")
	if out, err := exec.Command("cc", "-Wall", "-Itestdata/plain", "-o", bin, "testdata/demo.c").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	bindDemo(t, bin, []string{"LD_PRELOAD=" + lib, "SOCKS_WRAP_HELPER=" + helper, "SOCKS_PROXY=socks5://" + proxy, "SOCKS_BIND=1", "SOCKS_WRAP_IDLE=2s"}, "127.0.0.1")
	logs.Wait(t, "Bind from")
}

// TestWrapDirectDeny: socks.conf's direct and deny lines under the wrapper.
func TestWrapDirectDeny(t *testing.T) {
	proxy, logs := socksifytest.Sockd(t)
	env := wrapEnv(t, proxy)
	ih, ip := socksifytest.HTTP(t, "127.0.0.4")
	if out := run(t, env, "curl", "-sS", "--max-time", "30", "http://"+ih+":"+ip+"/"); !strings.Contains(out, "hello from 127.0.0.4") {
		t.Fatalf("direct: %s", out)
	}
	dh, dp := socksifytest.HTTP(t, "127.0.0.3")
	out := run(t, env, "/usr/bin/python3", "-c",
		"import socket, sys, errno\ntry:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)\nexcept OSError as e:\n    print(e.errno == errno.ECONNREFUSED, e)", dh, dp)
	if !strings.HasPrefix(out, "True") {
		t.Fatalf("deny: %s", out)
	}
	time.Sleep(50 * time.Millisecond)
	if l := logs.String(); strings.Contains(l, "127.0.0.3") || strings.Contains(l, "127.0.0.4") {
		t.Fatalf("sockd saw a connection it should not have:\n%s", l)
	}
}

// TestRunFallback: where socks run cannot use seccomp (forced here with
// SOCKS_RUN_NO_SECCOMP), it says so and runs the program under the
// wrapper, with itself as the helper.
func TestRunFallback(t *testing.T) {
	proxy, logs := socksifytest.Sockd(t)
	lib, socks := buildWrap(t)
	host, port := socksifytest.HTTP(t, "127.0.0.2")
	cmd := exec.Command(socks, "-c", socksifytest.SocksConf(t, proxy), "run", "--preload", lib, "--",
		"curl", "-sS", "--max-time", "60", "http://"+host+":"+port+"/")
	cmd.Env = append(os.Environ(), "SOCKS_RUN_NO_SECCOMP=1", "SOCKS_WRAP_IDLE=2s")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "hello from 127.0.0.2") {
		t.Fatalf("%v: stdout %q, stderr:\n%s", err, out, stderr.String())
	}
	if !strings.Contains(stderr.String(), "falling back to LD_PRELOAD="+lib+", which reaches dynamically linked programs only") {
		t.Fatalf("stderr does not explain the fallback:\n%s", stderr.String())
	}
	logs.Wait(t, "to 127.0.0.2 ("+port+")")
}

// TestRunNested: socks run under socks run cannot get a second listener
// (EBUSY); the inner one says so and falls back to the wrapper, and curl
// still goes through sockd. Twice: a helper daemon started under the outer
// filter would outlive the outer supervisor and break the second run, so
// under a filter the wrapper starts a helper per connect.
func TestRunNested(t *testing.T) {
	proxy, logs := socksifytest.Sockd(t)
	lib, socks := buildWrap(t)
	conf := socksifytest.SocksConf(t, proxy)
	host, port := socksifytest.HTTP(t, "127.0.0.2")
	for i := range 2 {
		cmd := exec.Command(socks, "-c", conf, "run", "--", socks, "-c", conf, "run", "--preload", lib, "--",
			"curl", "-sS", "--max-time", "60", "http://"+host+":"+port+"/")
		cmd.Env = append(os.Environ(), "SOCKS_WRAP_IDLE=20s")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || !strings.Contains(string(out), "hello from 127.0.0.2") {
			t.Fatalf("run %d: %v: stdout %q, stderr:\n%s", i+1, err, out, stderr.String())
		}
		if !strings.Contains(stderr.String(), "the process is already supervised") {
			t.Fatalf("stderr does not explain the fallback:\n%s", stderr.String())
		}
	}
	logs.WaitCount(t, "connected -- Connect from (unknown)@127.0.0.1 to 127.0.0.2 ("+port+")", 2)
}

// TestCredentials: SOCKS_CREDENTIALS gives libsocks and the wrapper's
// helper the user and password a sockd requires.
func TestCredentials(t *testing.T) {
	proxy, logs, creds := socksifytest.SockdUserPass(t, "alice", "s3cret pw")
	conf := socksifytest.SocksConf(t, proxy)
	host, port := socksifytest.HTTP(t, "127.0.0.2")
	lib, helper := buildWrap(t)
	env := []string{"SOCKS_CONF=" + conf, "SOCKS_CREDENTIALS=" + creds}
	if out := run(t, env, cc(t, "testdata/demo.c", false), "connect", host, port); !strings.Contains(out, "hello from 127.0.0.2") {
		t.Fatalf("libsocks: %s", out)
	}
	logs.WaitCount(t, "connected -- Connect from alice", 1)
	env = append(env, "LD_PRELOAD="+lib, "SOCKS_WRAP_HELPER="+helper, "SOCKS_WRAP_IDLE=2s")
	if out := run(t, env, "curl", "-sS", "--max-time", "30", "http://"+host+":"+port+"/"); !strings.Contains(out, "hello from 127.0.0.2") {
		t.Fatalf("libsockswrap: %s", out)
	}
	logs.WaitCount(t, "connected -- Connect from alice", 2)
}
