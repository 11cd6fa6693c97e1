package main

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestParseProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:5368":                         "127.0.0.1:21352",
		"00000000:0438":                         "0.0.0.0:1080",
		"00000000000000000000000001000000:0050": "[::1]:80",
	} {
		got, ok := parseProcAddr(in)
		if !ok || got.String() != want {
			t.Errorf("parseProcAddr(%q) = %v, %v; want %s", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "0100007F", "0100007:5368", "0100007F:x", "0100007F:10000"} {
		if _, ok := parseProcAddr(bad); ok {
			t.Errorf("parseProcAddr(%q) accepted", bad)
		}
	}
}

func TestAutogroupName(t *testing.T) {
	for in, want := range map[string]string{
		"/autogroup-398 nice 0\n": "/autogroup-398",
		"":                        "/", // the root group: the kernel prints nothing
	} {
		if got := autogroupName(in); got != want {
			t.Errorf("autogroupName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSessionWarning: a server in the benchmark's session passes; the same
// server started under setsid is flagged, since the kernel then schedules
// it as a group of its own.
func TestSessionWarning(t *testing.T) {
	if !autogroupsOn() {
		t.Skip("this kernel does not group sessions for scheduling (sched_autogroup_enabled is not 1)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if pid, ok := listenerPID(ln.Addr().String()); !ok || pid != os.Getpid() {
		t.Fatalf("listenerPID found %d, %v; want this process, %d", pid, ok, os.Getpid())
	}
	if w := sessionWarning(ln.Addr().String()); w != "" {
		t.Errorf("a listener in this process was flagged: %s", w)
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe) // TestMain makes it the targets' process
	cmd.Env = append(os.Environ(), roleEnv+"=target")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.Fields(line)[0]
	if _, err := netip.ParseAddrPort(addr); err != nil {
		t.Fatalf("target address %q: %v", addr, err)
	}
	w := sessionWarning(addr)
	if !strings.Contains(w, "scheduling group") || !strings.Contains(w, "setsid") {
		t.Errorf("a server in another session was not flagged: %q", w)
	}
}
