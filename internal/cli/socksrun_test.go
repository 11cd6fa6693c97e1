package cli

import (
	"bufio"
	"debug/elf"
	"fmt"
	"io"
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

// socksRun runs `socks ARGS...` in-process and returns its exit status,
// standard output and standard error.
func socksRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb testnet.Buffer
	code := Main("socks", args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func needProgram(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s (scripts/install-test-deps)", name, pkg)
	}
	return p
}

// staticGoProgram builds a statically linked Go program
// (CGO_ENABLED=0, checked to have no ELF interpreter): "URL" prints the
// body of an HTTP GET; "bind NETWORK ADDRESS" listens, prints its address,
// accepts one peer, prints its first line, then tries a second accept.
func staticGoProgram(t *testing.T) string {
	t.Helper()
	goProgPath, goProgErr := "", error(nil)
	func() {
		dir := t.TempDir()
		goProgPath = filepath.Join(dir, "gostatic")
		os.WriteFile(filepath.Join(dir, "main.go"), []byte(`package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	if os.Args[1] == "bind" {
		ln, err := net.Listen(os.Args[2], os.Args[3])
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(1)
		}
		fmt.Println("listening", ln.Addr())
		c, err := ln.Accept()
		if err != nil {
			fmt.Println("accept:", err)
			os.Exit(1)
		}
		fmt.Println("accepted from", c.RemoteAddr())
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Print("read ", line)
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := ln.Accept(); err != nil {
			fmt.Println("second accept: none")
		}
		return
	}
	r, err := http.Get(os.Args[1])
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	b, _ := io.ReadAll(r.Body)
	fmt.Print(string(b))
}
`), 0o644)
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module gostatic\n\ngo 1.22\n"), 0o644)
		build := exec.Command("go", "build", "-o", goProgPath, ".")
		build.Dir = dir
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			goProgErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		f, err := elf.Open(goProgPath)
		if err != nil {
			goProgErr = err
			return
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				goProgErr = fmt.Errorf("the Go program has an ELF interpreter: it is not statically linked")
			}
		}
	}()
	if goProgErr != nil {
		t.Fatal(goProgErr)
	}
	return goProgPath
}

// TestSocksRunUnmodified: curl (no proxy flags), python3's urllib, nc, a
// statically linked Go program and a C program with a non-blocking
// connect all reach a server on 127.0.0.2 through sockd, as its log shows.
func TestSocksRunUnmodified(t *testing.T) {
	proxy, logs := testSockd(t)
	conf := socksifytest.SocksConf(t, proxy)
	host, port := socksifytest.HTTP(t, "127.0.0.2")
	url := "http://" + host + ":" + port + "/"
	dir := t.TempDir()

	goProg := staticGoProgram(t)
	nb := filepath.Join(dir, "nbconnect")
	if out, err := exec.Command("cc", "-Wall", "-o", nb, "testdata/socksrun/nbconnect.c").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}

	cases := []struct {
		name string
		argv []string
		want string
	}{
		// curl asks getpeername for the address it reports: the destination, not sockd.
		{"curl", []string{needProgram(t, "curl", "curl"), "-sS", "--max-time", "60", "-w", "%{remote_ip}:%{remote_port}\n", url}, "hello from 127.0.0.2\n127.0.0.2:" + port},
		{"python3", []string{"/usr/bin/python3", "-c", "import urllib.request as u, sys; sys.stdout.write(u.urlopen(sys.argv[1], timeout=60).read().decode())", url}, "hello from 127.0.0.2"},
		{"static-go", []string{goProg, url}, "hello from 127.0.0.2"},
		{"nonblocking-c", []string{nb, host, port}, "connect: EINPROGRESS\npeer 127.0.0.2:" + port + "\nHTTP/1.0 200 OK"},
		{"nc", []string{"sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | " + needProgram(t, "nc", "netcat-openbsd") + " -N -w 30 " + host + " " + port}, "hello from 127.0.0.2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := strings.Count(logs.String(), "connected -- Connect from")
			code, out, errs := socksRun(t, append([]string{"-v", "-c", conf, "run", "--"}, c.argv...)...)
			if code != 0 || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d, stdout %q, want %q; stderr:\n%s", code, out, c.want, errs)
			}
			if !strings.Contains(errs, "connected via socks5://"+proxy) {
				t.Errorf("stderr does not name the proxy:\n%s", errs)
			}
			waitLog(t, logs, "to 127.0.0.2 ("+port+")")
			deadline := time.Now().Add(20 * time.Second)
			for strings.Count(logs.String(), "connected -- Connect from") <= before {
				if time.Now().After(deadline) {
					t.Fatalf("sockd logged no new connection for %s", c.name)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestSocksRunDirectDeny: a deny line fails the program's connect with
// ECONNREFUSED and nothing reaches the destination; a direct line lets
// the program connect itself, without sockd.
func TestSocksRunDirectDeny(t *testing.T) {
	proxy, logs := testSockd(t)
	conf := socksifytest.SocksConf(t, proxy)
	curl := needProgram(t, "curl", "curl")

	dh, dp := socksifytest.HTTP(t, "127.0.0.3")
	code, out, errs := socksRun(t, "-v", "-c", conf, "run", "--", curl, "-sS", "--max-time", "30", "http://"+dh+":"+dp+"/")
	if code != 7 || strings.Contains(out, "hello") {
		t.Fatalf("denied: exit %d (want curl's 7, could not connect), stdout %q, stderr:\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "127.0.0.3:"+dp+": deny") {
		t.Errorf("stderr does not say deny:\n%s", errs)
	}

	// The errno itself, as a program sees it.
	code, out, errs = socksRun(t, "-c", conf, "run", "--", "/usr/bin/python3", "-c",
		"import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)\nexcept OSError as e:\n    print(e.errno == __import__('errno').ECONNREFUSED, e)", dh, dp)
	if code != 0 || !strings.HasPrefix(out, "True") {
		t.Fatalf("denied, python3: exit %d, stdout %q (want ECONNREFUSED), stderr:\n%s", code, out, errs)
	}

	ih, ip := socksifytest.HTTP(t, "127.0.0.4")
	code, out, errs = socksRun(t, "-v", "-c", conf, "run", "--", curl, "-sS", "--max-time", "30", "http://"+ih+":"+ip+"/")
	if code != 0 || !strings.Contains(out, "hello from 127.0.0.4") || !strings.Contains(errs, "127.0.0.4:"+ip+": direct") {
		t.Fatalf("direct: exit %d, stdout %q, stderr:\n%s", code, out, errs)
	}
	time.Sleep(50 * time.Millisecond) // the log is written in batches at most 10 ms apart
	if l := logs.String(); strings.Contains(l, "127.0.0.3") || strings.Contains(l, "127.0.0.4") {
		t.Fatalf("sockd saw a connection it should not have:\n%s", l)
	}
}

// TestSocksRunExitStatus: the program's exit status is the command's.
func TestSocksRunExitStatus(t *testing.T) {
	if code, _, errs := socksRun(t, "run", "--", "sh", "-c", "exit 3"); code != 3 {
		t.Fatalf("exit %d, want 3: %s", code, errs)
	}
	if code, _, errs := socksRun(t, "run", "--", "/nonexistent/prog"); code != 127 {
		t.Fatalf("exit %d for a missing program: %s", code, errs)
	}
}

// TestSocksRunBind: with --bind, a C program's plain bind(port 0), listen,
// getsockname and accept, and a static Go program's net.Listen (IPv4, and
// the dual-stack [::]) become one SOCKS BIND through sockd: the address
// printed is sockd's, the peer comes through it, a second accept finds
// nothing.
func TestSocksRunBind(t *testing.T) {
	proxy, logs := testSockd(t)
	plain := filepath.Join(t.TempDir(), "plaindemo")
	if out, err := exec.Command("cc", "-Wall", "-I../../lib/libsocks/testdata/plain", "-o", plain, "../../lib/libsocks/testdata/demo.c").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	goProg := staticGoProgram(t)
	for _, c := range []struct {
		name string
		argv []string
		want []string
	}{
		{"c", []string{plain, "bind"}, []string{"accepted from 127.0.0.5", "read line from the peer", "second Raccept: EAGAIN"}},
		{"static-go-tcp4", []string{goProg, "bind", "tcp4", "0.0.0.0:0"}, []string{"accepted from 127.0.0.5:", "read line from the peer", "second accept: none"}},
		{"static-go-dualstack", []string{goProg, "bind", "tcp", ":0"}, []string{"accepted from 127.0.0.5:", "read line from the peer", "second accept: none"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := strings.Count(logs.String(), "connected -- Bind from")
			pr, pw := io.Pipe()
			var errb testnet.Buffer
			done := make(chan int, 1)
			go func() {
				done <- Main("socks", append([]string{"-v", "--proxy", "socks5://" + proxy, "run", "--bind", "--"}, c.argv...), strings.NewReader(""), pw, &errb)
				pw.Close()
			}()
			br := bufio.NewReader(pr)
			line, err := br.ReadString('\n')
			f := strings.Fields(line)
			if err != nil || len(f) < 2 || f[0] != "listening" {
				t.Fatalf("no address: %q %v; stderr:\n%s", line, err, errb.String())
			}
			addr := f[1]
			if len(f) == 3 {
				addr = net.JoinHostPort(f[1], f[2])
			}
			if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
				t.Fatalf("listening on %s, not on sockd's address; stderr:\n%s", addr, errb.String())
			}
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}, Timeout: 20 * time.Second}
			peer, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprint(peer, "line from the peer\n")
			rest, _ := io.ReadAll(br)
			peer.Close()
			if code := <-done; code != 0 {
				t.Fatalf("exit %d; stdout %s; stderr:\n%s", code, rest, errb.String())
			}
			for _, w := range c.want {
				if !strings.Contains(string(rest), w) {
					t.Fatalf("output lacks %q:\n%s\nstderr:\n%s", w, rest, errb.String())
				}
			}
			if !testnet.Eventually(20*time.Second, 10*time.Millisecond, func() bool { return strings.Count(logs.String(), "connected -- Bind from") > before }) {
				t.Fatalf("sockd logged no BIND")
			}
		})
	}
}

// TestSocksRunChain: a static Go program under socks run reaches 127.0.0.2
// through server B, itself reached through server A (socks.conf routes B's
// address through A): the program's own socket carries both handshakes.
func TestSocksRunChain(t *testing.T) {
	a, alog := socksifytest.Sockd(t)
	b, blog := socksifytest.SockdOn(t, "127.0.0.6")
	conf := testnet.WriteFileT(t, "socks.conf", "sockd @=socks5://"+a+" 127.0.0.6 255.255.255.255\nsockd @=socks5://"+b+" 127.0.0.2 255.255.255.255\n")
	host, port := socksifytest.HTTP(t, "127.0.0.2")
	code, out, errs := socksRun(t, "-v", "-c", conf, "run", "--", staticGoProgram(t), "http://"+host+":"+port+"/")
	if code != 0 || !strings.Contains(out, "hello from 127.0.0.2") {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "connected via socks5://"+a+" -> socks5://"+b) {
		t.Errorf("stderr does not show the chain:\n%s", errs)
	}
	_, bport, _ := net.SplitHostPort(b)
	alog.Wait(t, "to 127.0.0.6 ("+bport+")")
	blog.Wait(t, "to 127.0.0.2 ("+port+")")
}

// TestSocksRunCredentials: a sockd that requires SOCKS5 username and
// password is reached with the --credentials file; without it the
// program's connect fails.
func TestSocksRunCredentials(t *testing.T) {
	proxy, logs, creds := socksifytest.SockdUserPass(t, "alice", "s3cret pw")
	conf := socksifytest.SocksConf(t, proxy)
	host, port := socksifytest.HTTP(t, "127.0.0.2")
	curl := needProgram(t, "curl", "curl")
	url := "http://" + host + ":" + port + "/"
	if code, out, errs := socksRun(t, "-c", conf, "run", "--", curl, "-sS", "--max-time", "30", url); code == 0 || strings.Contains(out, "hello") {
		t.Fatalf("without credentials: exit %d, stdout %q, stderr:\n%s", code, out, errs)
	}
	code, out, errs := socksRun(t, "--credentials", creds, "-c", conf, "run", "--", curl, "-sS", "--max-time", "30", url)
	if code != 0 || !strings.Contains(out, "hello from 127.0.0.2") {
		t.Fatalf("with credentials: exit %d, stdout %q, stderr:\n%s", code, out, errs)
	}
	logs.Wait(t, "connected -- Connect from alice")
	logs.Wait(t, "to 127.0.0.2 ("+port+")")
}

// TestSocksRunNonTCP: a UDP socket connected to 127.0.0.2 (which socks.conf
// sends through sockd) and a Unix socket pass untouched: both exchange
// data with their servers, and sockd never hears of them.
func TestSocksRunNonTCP(t *testing.T) {
	proxy, logs := testSockd(t)
	conf := socksifytest.SocksConf(t, proxy)
	udp, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	go func() {
		buf := make([]byte, 64)
		for range 4 {
			n, from, err := udp.ReadFrom(buf)
			if err != nil {
				return
			}
			udp.WriteTo(append([]byte("udp echo "), buf[:n]...), from)
		}
	}()
	sock := filepath.Join(t.TempDir(), "s")
	ux, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ux.Close()
	go func() {
		c, err := ux.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "unix hello\n")
	}()
	_, uport, _ := net.SplitHostPort(udp.LocalAddr().String())
	script := `import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(20)
u.connect(("127.0.0.2", int(sys.argv[1])))
u.send(b"ping")
print(u.recv(64).decode())
x = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
x.settimeout(20)
x.connect(sys.argv[2])
print(x.recv(64).decode().strip())
`
	code, out, errs := socksRun(t, "-v", "-c", conf, "run", "--", "/usr/bin/python3", "-c", script, uport, sock)
	if code != 0 || !strings.Contains(out, "udp echo ping") || !strings.Contains(out, "unix hello") {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, out, errs)
	}
	time.Sleep(50 * time.Millisecond) // the log is written in batches at most 10 ms apart
	if l := logs.String(); strings.Contains(l, "connected --") {
		t.Fatalf("sockd saw a connection:\n%s", l)
	}
}
