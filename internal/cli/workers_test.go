package cli

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"

	"github.com/spf13/pflag"
)

// TestFlagArgs: the workers get back every flag the supervisor parsed,
// repeated flags included.
func TestFlagArgs(t *testing.T) {
	var listen []string
	var drain time.Duration
	var workers int
	var check bool
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.StringArrayVar(&listen, "listen", nil, "")
	fs.DurationVar(&drain, "drain-timeout", time.Second, "")
	fs.IntVar(&workers, "workers", 1, "")
	fs.BoolVarP(&check, "check", "t", false, "")
	if err := fs.Parse([]string{"--listen", "127.0.0.1:1", "--listen=[::1]:2", "--drain-timeout", "90s", "--workers", "3"}); err != nil {
		t.Fatal(err)
	}
	args := flagArgs(fs)
	want := []string{"--drain-timeout=1m30s", "--listen=127.0.0.1:1", "--listen=[::1]:2", "--workers=3"}
	if !slices.Equal(args, want) {
		t.Fatalf("flagArgs = %q, want %q", args, want)
	}
	listen, drain, workers = nil, 0, 0
	if err := fs.Parse(args); err != nil || len(listen) != 2 || drain != 90*time.Second || workers != 3 || check {
		t.Fatalf("reparsed: %v %v %v %v %v", err, listen, drain, workers, check)
	}
}

func TestWorkersUsageErrors(t *testing.T) {
	conf := testnet.WriteFileT(t, "sockd.conf", "permit 127.0.0.0 255.0.0.0\n")
	for _, args := range [][]string{
		{"-c", conf, "--workers", "0"},
		{"-c", conf, "--workers", "100000"},
		{"-c", conf, "--workers", "2", "--inetd"},
		{"-c", conf, "--workers", "2", "--metrics-listen", "127.0.0.1:0"},
		{"-c", conf, "--workers", "3", "--max-clients", "2"},
	} {
		if code, _, stderr := runSockd(t, "", args...); code != ExitUsage || !strings.Contains(stderr, "--") {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, ExitUsage, stderr)
		}
	}
}

// daemonProc is a sockd started as its own process: this test binary run
// under the name sockd (TestMain dispatches on it), as testscript does.
type daemonProc struct {
	cmd  *exec.Cmd
	log  *testnet.Buffer
	done chan struct{}
}

func startDaemonProc(t *testing.T, env []string, args ...string) *daemonProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemonProc{log: &testnet.Buffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(exe)
	d.cmd.Args = append([]string{"sockd"}, args...)
	d.cmd.Env = append(os.Environ(), env...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.log.String())
		}
	})
	return d
}

// entries are the JSON log lines so far.
func (d *daemonProc) entries() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(d.log.String()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// find returns the log entries with message msg whose fields include
// every key and value of want (numbers compared as text).
func (d *daemonProc) find(msg string, want map[string]string) []map[string]any {
	var out []map[string]any
	for _, e := range d.entries() {
		if e["msg"] != msg {
			continue
		}
		ok := true
		for k, v := range want {
			if fmt.Sprint(e[k]) != v {
				ok = false
			}
		}
		if ok {
			out = append(out, e)
		}
	}
	return out
}

// waitLog waits (20 s at most) until n entries match.
func (d *daemonProc) waitLog(t *testing.T, n int, msg string, want map[string]string) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if es := d.find(msg, want); len(es) >= n {
			return es
		}
		select {
		case <-d.done:
			t.Fatalf("daemon exited waiting for %d× %q %v", n, msg, want)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d× %q %v", n, msg, want)
		}
	}
}

func (d *daemonProc) waitExit(t *testing.T) int {
	t.Helper()
	select {
	case <-d.done:
		return d.cmd.ProcessState.ExitCode()
	case <-time.After(40 * time.Second):
		t.Fatal("daemon did not exit")
		return -1
	}
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

// processGone reports whether pid no longer runs (a zombie left to a
// parent that does not reap counts as gone).
func processGone(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range pids {
		for !processGone(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// echoServer echoes every connection until the test ends.
func echoServer(t *testing.T) string {
	return testnet.EchoT(t, "tcp", "127.0.0.1:0").Addr().String()
}

// socksEcho relays one line through the proxy to the echo server with
// SOCKS4 or SOCKS5; it returns the reply code (0 granted, for both
// versions) and an error for anything that is not a protocol answer.
func socksEcho(proxy, target string, version int) (int, error) {
	c, err := net.DialTimeout("tcp", proxy, 20*time.Second)
	if err != nil {
		return -1, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	ap := net.TCPAddrFromAddrPort(mustAddrPort(target))
	var port [2]byte
	binary.BigEndian.PutUint16(port[:], uint16(ap.Port))
	code := -1
	if version == 4 {
		req := append([]byte{4, 1}, port[:]...)
		req = append(append(req, ap.IP.To4()...), "tester\x00"...)
		c.Write(req)
		var r [8]byte
		if _, err := io.ReadFull(c, r[:]); err != nil {
			return -1, err
		}
		if code = int(r[1]); code != 90 {
			return code, nil
		}
		code = 0
	} else {
		c.Write([]byte{5, 1, 0})
		var m [2]byte
		if _, err := io.ReadFull(c, m[:]); err != nil || m != [2]byte{5, 0} {
			return -1, fmt.Errorf("greeting: %v %v", m, err)
		}
		req := append([]byte{5, 1, 0, 1}, ap.IP.To4()...)
		c.Write(append(req, port[:]...))
		var r [10]byte
		if _, err := io.ReadFull(c, r[:]); err != nil {
			return -1, err
		}
		if code = int(r[1]); code != 0 {
			return code, nil
		}
	}
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return -1, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ping\n" {
		return -1, fmt.Errorf("echo: %q %v", line, err)
	}
	return code, nil
}

func mustAddrPort(s string) netip.AddrPort {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a.AddrPort()
}

// notifyListener collects sd_notify messages sent to a socket in dir.
type notifyListener struct {
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) (path string, n *notifyListener) {
	path = filepath.Join(t.TempDir(), "notify")
	c := testnet.ListenUnixgram(t, path)
	n = &notifyListener{}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	return path, n
}

// count is how many messages so far contain field.
func (n *notifyListener) count(field string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := 0
	for _, m := range n.msgs {
		if slices.Contains(strings.Split(m, "\n"), field) {
			k++
		}
	}
	return k
}

func waitCount(t *testing.T, what string, count func() int, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d× %s (have %d)", want, what, count())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWorkers runs sockd --workers 2 as real processes: SOCKS4 and SOCKS5
// clients are served by both workers, a killed worker is replaced, SIGHUP
// reloads every worker, systemd hears READY=1 once the workers are up,
// and SIGTERM stops everything, leaving no process behind.
func TestWorkers(t *testing.T) {
	dir := t.TempDir()
	conf := testnet.WriteFileIn(t, dir, "sockd.conf", "permit 127.0.0.0 255.0.0.0\n")
	target := echoServer(t)
	notifyPath, notify := listenNotify(t)
	d := startDaemonProc(t, []string{"NOTIFY_SOCKET=" + notifyPath}, "-c", conf, "--listen", "127.0.0.1:0", "--workers", "2",
		"--log-format", "json", "--drain-timeout", "5s", "--max-clients", "1000")

	started := d.waitLog(t, 1, "every worker serving", nil)
	proxy := d.find("listening", nil)[0]["address"].(string)
	pids := map[int]int{} // worker number → pid
	for _, e := range d.find("worker serving", nil) {
		pids[num(e["worker"])] = num(e["pid"])
		if e["max_clients"] != 500.0 {
			t.Errorf("worker %v: max_clients %v, want half of 1000", e["worker"], e["max_clients"])
		}
	}
	if len(pids) != 2 || pids[1] == pids[2] || pids[1] == d.cmd.Process.Pid {
		t.Fatalf("worker pids %v (supervisor %d)", pids, d.cmd.Process.Pid)
	}
	if notify.count("READY=1") != 1 {
		t.Fatalf("READY=1 sent %d times once the workers served", notify.count("READY=1"))
	}
	if started[0]["pid"] != float64(d.cmd.Process.Pid) {
		t.Errorf("the supervisor's lines name pid %v", started[0]["pid"])
	}

	// Connections land in both workers: the kernel picks the accepting
	// process, so keep connecting (a bounded number of times) until both
	// have served SOCKS4 and SOCKS5 clients.
	for i := 0; ; i++ {
		if i == 400 {
			t.Fatalf("after %d connections, not every worker served both versions", i)
		}
		version := 4 + i%2
		if code, err := socksEcho(proxy, target, version); err != nil || code != 0 {
			t.Fatalf("SOCKS%d: code %d, %v", version, code, err)
		}
		if i%10 == 9 && bothServed(d) {
			break
		}
	}

	// A killed worker is replaced, and the replacement serves.
	syscall.Kill(pids[1], syscall.SIGKILL)
	d.waitLog(t, 1, "worker exited unexpectedly: restarting it", map[string]string{"worker": "1", "worker_pid": strconv.Itoa(pids[1])})
	again := d.waitLog(t, 1, "worker restarted and serving", map[string]string{"worker": "1"})
	newPid := num(again[0]["worker_pid"])
	if newPid == pids[1] || processGone(newPid) {
		t.Fatalf("replacement pid %d (old %d)", newPid, pids[1])
	}
	waitGone(t, pids[1])
	for version := 4; version <= 5; version++ {
		if code, err := socksEcho(proxy, target, version); err != nil || code != 0 {
			t.Fatalf("after the restart, SOCKS%d: code %d, %v", version, code, err)
		}
	}
	allPids := []int{pids[1], pids[2], newPid}

	// SIGHUP reaches every worker: each loads the new rules, and systemd
	// hears RELOADING=1 then READY=1 again.
	loaded := len(d.find("configuration loaded", nil))
	os.WriteFile(conf, []byte("deny 0.0.0.0 0.0.0.0\n"), 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(t, 1, "every worker reloaded", nil)
	after := d.find("configuration loaded", nil)[loaded:]
	reloaded := map[string]bool{}
	for _, e := range after {
		reloaded[fmt.Sprint(e["worker"])] = true
	}
	if !reloaded["1"] || !reloaded["2"] {
		t.Fatalf("workers that reloaded: %v", reloaded)
	}
	waitCount(t, "READY=1 after the reload", func() int { return notify.count("READY=1") }, 2)
	if notify.count("RELOADING=1") != 1 {
		t.Errorf("RELOADING=1 sent %d times", notify.count("RELOADING=1"))
	}
	for i := range 6 {
		version := 4 + i%2
		code, err := socksEcho(proxy, target, version)
		if err != nil || code == 0 {
			t.Fatalf("SOCKS%d after the reload to deny: code %d, %v", version, code, err)
		}
	}

	// SIGTERM stops the workers, then the supervisor; nothing lingers.
	d.cmd.Process.Signal(syscall.SIGTERM)
	if code := d.waitExit(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	waitGone(t, allPids...)
	if n := len(d.find("worker stopped", map[string]string{"status": "exit status 0"})); n != 2 {
		t.Errorf("%d workers stopped cleanly, want 2", n)
	}
	if notify.count("STOPPING=1") != 1 {
		t.Errorf("STOPPING=1 sent %d times", notify.count("STOPPING=1"))
	}
}

// bothServed: each worker has logged a finished SOCKS4 and SOCKS5 session.
func bothServed(d *daemonProc) bool {
	seen := map[string]bool{}
	for _, e := range d.entries() {
		msg, _ := e["msg"].(string)
		if !strings.HasPrefix(msg, "terminated -- ") {
			continue
		}
		v := "5"
		if strings.Contains(msg, "tester") {
			v = "4"
		}
		seen[fmt.Sprint(e["worker"])+"/"+v] = true
	}
	return seen["1/4"] && seen["1/5"] && seen["2/4"] && seen["2/5"]
}

// TestWorkersOutliveNoSupervisor: killing the supervisor outright (no
// chance to stop anything) still ends the workers, which see their
// control socket close.
func TestWorkersOutliveNoSupervisor(t *testing.T) {
	conf := testnet.WriteFileT(t, "sockd.conf", "permit 127.0.0.0 255.0.0.0\n")
	d := startDaemonProc(t, nil, "-c", conf, "--listen", "127.0.0.1:0", "--workers", "2", "--log-format", "json", "--drain-timeout", "2s")
	d.waitLog(t, 1, "every worker serving", nil)
	var pids []int
	for _, e := range d.find("worker serving", nil) {
		pids = append(pids, num(e["pid"]))
	}
	d.cmd.Process.Kill()
	d.waitExit(t)
	waitGone(t, pids...)
	d.waitLog(t, 2, "the supervisor is gone: draining sessions and exiting", nil)
}

// TestWorkersBrokenConfig: with --workers, a broken file is reported by
// the supervisor with the usual diagnostics before any worker starts or
// any port is bound.
func TestWorkersBrokenConfig(t *testing.T) {
	conf := testnet.WriteFileT(t, "sockd.conf", "permit 127.0.0.0 255.0.0.0\npermitt 10.0.0.0 255.0.0.0\n")
	d := startDaemonProc(t, nil, "-c", conf, "--listen", "127.0.0.1:0", "--workers", "2")
	if code := d.waitExit(t); code != ExitInvalid {
		t.Fatalf("exit %d, want %d", code, ExitInvalid)
	}
	out := d.log.String()
	if !strings.Contains(out, conf+":2:1: error:") || strings.Contains(out, "worker") || strings.Contains(out, "listening") {
		t.Fatalf("output:\n%s", out)
	}
}

// TestWorkersStartupFailure: a worker that cannot serve makes the
// supervisor stop and fail, instead of restarting it forever before the
// service was ever ready.
func TestWorkersStartupFailure(t *testing.T) {
	dir := t.TempDir()
	conf := testnet.WriteFileIn(t, dir, "sockd.conf", "permit 127.0.0.0 255.0.0.0\n")
	// The CPU profile of worker 1 cannot be created (a directory is in
	// the way), so worker 1 fails after the supervisor has started.
	os.Mkdir(filepath.Join(dir, "prof.worker1"), 0o700)
	d := startDaemonProc(t, nil, "-c", conf, "--listen", "127.0.0.1:0", "--workers", "2", "--log-format", "json",
		"--cpuprofile", filepath.Join(dir, "prof"))
	if code := d.waitExit(t); code != ExitInvalid {
		t.Fatalf("exit %d, want %d", code, ExitInvalid)
	}
	if !strings.Contains(d.log.String(), "worker 1 (pid ") || !strings.Contains(d.log.String(), "exited while starting") {
		t.Fatalf("output:\n%s", d.log.String())
	}
	if len(d.find("worker exited unexpectedly: restarting it", nil)) != 0 {
		t.Fatal("a worker that never started was restarted")
	}
}
