package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
)

// testSockd runs a sockd permitting loopback clients on 127.0.0.1.
func testSockd(t *testing.T) (string, *testnet.Buffer) {
	t.Helper()
	return sockdWith(t, "permit 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n", "")
}

// bannerServer is an SSH-like server on 127.0.0.2: it sends its banner and
// records the client's first line.
func bannerServer(t *testing.T) (string, <-chan string) {
	t.Helper()
	got := make(chan string, 1)
	addr := testnet.AcceptOnceT(t, "127.0.0.2:0", 30*time.Second, func(c net.Conn) {
		io.WriteString(c, "SSH-2.0-sockdtest\r\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		got <- line
	})
	return addr, got
}

// TestSocksSSHProxyCommand: a real ssh speaks through `socks connect` as
// its ProxyCommand, through sockd, to a server that exchanges banners.
func TestSocksSSHProxyCommand(t *testing.T) {
	ssh, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatal("ssh not found: install the Debian package openssh-client (scripts/install-test-deps)")
	}
	bin := filepath.Join(t.TempDir(), "socks")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/sockd/sockd/cmd/socks").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	proxy, logs := testSockd(t)
	target, got := bannerServer(t)
	host, port, _ := net.SplitHostPort(target)
	conf := testnet.WriteFileT(t, "socks.conf", "sockd @=socks5://"+proxy+" 127.0.0.2 255.255.255.255\n")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ssh, "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=30",
		"-o", "ProxyCommand="+bin+" -c "+conf+" connect %h %p", "-p", port, "tester@"+host, "true")
	out, _ := cmd.CombinedOutput() // ssh fails after the banners: the server is not a real sshd
	select {
	case line := <-got:
		if !strings.HasPrefix(line, "SSH-2.0-OpenSSH") {
			t.Fatalf("the server read %q from ssh, want its SSH banner; ssh said:\n%s", line, out)
		}
	case <-ctx.Done():
		t.Fatalf("the server never heard from ssh; ssh said:\n%s", out)
	}
	waitLog(t, logs, "connected -- Connect from ")
	waitLog(t, logs, "to 127.0.0.2 (")
}

func waitLog(t *testing.T, logs *testnet.Buffer, want string) {
	t.Helper()
	if !testnet.Eventually(20*time.Second, 10*time.Millisecond, func() bool { return strings.Contains(logs.String(), want) }) {
		t.Fatalf("log never said %q", want)
	}
}

// TestSocksRoute: route names the deciding line and the chain; a denied
// destination exits 1.
func TestSocksRoute(t *testing.T) {
	conf := testnet.WriteFileT(t, "socks.conf", "deny 10.0.0.0 255.0.0.0\nsockd @=socks5://192.0.2.2:1081 192.0.2.0 255.255.255.0\ndirect 0.0.0.0 0.0.0.0\n")
	var out, errb bytes.Buffer
	if code := Main("socks", []string{"-c", conf, "route", "192.0.2.80", "80"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"THROUGH UPSTREAM", "deciding line: 2: sockd @=socks5://192.0.2.2:1081", "line 1 tried: destination does not match",
		"upstream 1: socks5://192.0.2.2:1081", "socks5://192.0.2.2:1081 -> 192.0.2.80:80"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("route output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := Main("socks", []string{"-c", conf, "route", "10.1.1.1", "80"}, nil, &out, &errb); code != ExitInvalid {
		t.Fatalf("denied route: exit %d, want %d\n%s", code, ExitInvalid, out.String())
	}
}

// TestSocksListen: listen prints the address sockd announced for a BIND,
// then joins the peer to standard output.
func TestSocksListen(t *testing.T) {
	proxy, _ := testSockd(t)
	pr, pw := io.Pipe()
	var errb testnet.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main("socks", []string{"--proxy", "socks5://" + proxy, "listen", "127.0.0.2"}, strings.NewReader(""), pw, &errb)
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	addr, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v (%s)", err, errb.String())
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 10 * time.Second}
	peer, err := d.Dial("tcp", strings.TrimSpace(addr))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(peer, "data from the peer\n")
	peer.Close()
	line, _ := br.ReadString('\n')
	if line != "data from the peer\n" {
		t.Fatalf("relayed %q", line)
	}
	io.Copy(io.Discard, br)
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "connection from 127.0.0.2:") {
		t.Fatalf("stderr: %s", errb.String())
	}
}
