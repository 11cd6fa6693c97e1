package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sockd/sockd/internal/testnet/peer"
)

// proxy is one SOCKS server under test, or the direct baseline (cmd nil).
type proxy struct {
	name string
	addr string // host:port of the SOCKS server; "" for direct
	cmd  *exec.Cmd
	log  string // where its log goes
}

func (p *proxy) direct() bool { return p.addr == "" }

// stop ends the server and its children (danted forks).
func (p *proxy) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	p.cmd.Wait()
}

func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("no free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess runs name with args in its own process group, stderr and
// stdout to logPath, and waits until addr accepts connections.
func startProcess(pname, addr, logPath string, path string, args ...string) (*proxy, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proxy{name: pname, addr: addr, cmd: cmd, log: logPath}
	if _, err := waitListening(addr, 20*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("%s did not listen on %s: %v (log: %s)", pname, addr, err, logPath)
	}
	return p, nil
}

// waitListening polls addr every millisecond until a connection succeeds;
// it returns how long that took.
func waitListening(addr string, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			return 0, err
		}
		time.Sleep(time.Millisecond)
	}
}

// ensurePeers installs danted and microsocks from Debian when missing.
func ensurePeers() {
	var need []string
	if _, err := lookPath("danted"); err != nil {
		need = append(need, "dante-server")
	}
	if _, err := lookPath("microsocks"); err != nil {
		need = append(need, "microsocks")
	}
	if len(need) == 0 {
		return
	}
	fmt.Fprintf(os.Stderr, "installing %s from Debian\n", strings.Join(need, " "))
	sudo := []string{}
	if os.Getuid() != 0 {
		sudo = []string{"sudo"}
	}
	run := func(args ...string) {
		all := append(append([]string{}, sudo...), args...)
		c := exec.Command(all[0], all[1:]...)
		c.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		c.Stdout, c.Stderr = os.Stderr, os.Stderr
		if err := c.Run(); err != nil {
			fatalf("%s: %v", strings.Join(all, " "), err)
		}
	}
	run("apt-get", "update", "-qq")
	run(append([]string{"apt-get", "install", "-y", "-qq", "--no-install-recommends"}, need...)...)
	// The packages start system services; the benchmark runs its own.
	for _, svc := range []string{"danted", "microsocks"} {
		exec.Command("systemctl", "disable", "--now", svc).Run()
	}
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New(name + " not found")
}

// startInstalled finds the program name and runs it on a free loopback port,
// its output to logName in dir, with the arguments args gives for that
// port (args may write a configuration file first).
func startInstalled(name, dir, logName string, args func(port string) ([]string, error)) (*proxy, error) {
	path, err := lookPath(name)
	if err != nil {
		return nil, err
	}
	addr := freePort()
	_, port, _ := net.SplitHostPort(addr)
	argv, err := args(port)
	if err != nil {
		return nil, err
	}
	return startProcess(name, addr, filepath.Join(dir, logName), path, argv...)
}

func startMicrosocks(dir string) (*proxy, error) {
	// microsocks logs every connection on stdout: it goes to its log file,
	// as sockd's does.
	return startInstalled("microsocks", dir, "microsocks.log", func(port string) ([]string, error) {
		return []string{"-i", "127.0.0.1", "-p", port}, nil
	})
}

func startDanted(dir string) (*proxy, error) {
	return startInstalled("danted", dir, "danted.out", func(port string) ([]string, error) {
		return peer.WriteDanted(dir, port, "none", dantedRules)
	})
}

// dantedRules let loopback clients connect to loopback, and log each
// connection as sockd does.
const dantedRules = `socks pass {
	from: 127.0.0.0/8 to: 127.0.0.0/8
	command: connect
	protocol: tcp
	log: connect disconnect
}
`

// buildSockd compiles the daemon and the compiler into dir.
func buildSockd(dir string) (sockd, makefc string) {
	sockd, makefc = filepath.Join(dir, "sockd"), filepath.Join(dir, "make_sockdfc")
	// Build from the module's root, wherever the benchmark was started.
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		fatalf("cannot find the sockd module: run the benchmark inside the repository (%v)", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	for bin, pkg := range map[string]string{sockd: "./cmd/sockd", makefc: "./cmd/make_sockdfc"} {
		c := exec.Command("go", "build", "-o", bin, pkg)
		c.Dir = root
		c.Stdout, c.Stderr = os.Stderr, os.Stderr
		if err := c.Run(); err != nil {
			fatalf("go build %s: %v (run the benchmark from the repository root)", pkg, err)
		}
	}
	return sockd, makefc
}

// writeSockdConf writes the rules the daemon runs with in the benchmark:
// a realistic file of n lines in which the loopback permit comes last,
// with the decision index, identd-free lines and a final deny, so every
// request is checked against the rules as in production.
func writeSockdConf(path string, n int) {
	var b strings.Builder
	b.WriteString("# sockd benchmark rules: loopback clients permitted after many other lines\n")
	for i := range n {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "deny 10.%d.%d.7 255.255.255.255\n", (i>>8)&255, i&255)
		case 1:
			fmt.Fprintf(&b, "permit 10.%d.%d.0 255.255.255.0 172.16.%d.0 255.255.255.0 eq 443\n", (i>>8)&255, i&255, i&255)
		case 2:
			fmt.Fprintf(&b, "permit 2001:db8:%x::/48 ::/0 ge 1024\n", i)
		default:
			fmt.Fprintf(&b, "deny 10.%d.%d.0/24 192.168.0.0/16 lt 1024 : echo refused %%u@%%A\n", (i>>8)&255, i&255)
		}
	}
	b.WriteString("permit 127.0.0.0 255.0.0.0 127.0.0.0 255.0.0.0\n")
	b.WriteString("deny 0.0.0.0 0.0.0.0\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		fatalf("%v", err)
	}
}

func startSockd(bin, dir string, extra ...string) (*proxy, error) {
	conf := filepath.Join(dir, "sockd.conf")
	writeSockdConf(conf, 1000)
	addr := freePort()
	args := append([]string{"-c", conf, "--listen", addr}, extra...)
	return startProcess("sockd", addr, filepath.Join(dir, "sockd.log"), bin, args...)
}

// statFields returns the fields of /proc/PID/stat after the command name
// (state first), or nil if the process is gone. The name may hold spaces
// and parentheses: the fields follow its last ')'.
func statFields(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// processTree returns pid and all its descendants.
func processTree(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f := statFields(p)
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1]) // the parent's id
		children[pp] = append(children[pp], p)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// usage is the PSS (kB) and descriptor count of a process tree.
type usage struct {
	pssKB int64
	fds   int
}

func treeUsage(pid int) usage {
	var u usage
	for _, p := range processTree(pid) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p))
		if err == nil {
			sc := bufio.NewScanner(strings.NewReader(string(data)))
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) >= 2 && f[0] == "Pss:" {
					n, _ := strconv.ParseInt(f[1], 10, 64)
					u.pssKB += n
				}
			}
		}
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p)); err == nil {
			u.fds += len(ents)
		}
	}
	return u
}
