package hostsaccess

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The differential test: generated hosts.allow/hosts.deny pairs and
// clients, decided by this package and by Debian's tcpdmatch (libwrap's
// own verdict), must agree on every case. tcpdmatch -d reads the two files
// from the current directory; with an address as the client it looks up
// no name, as the daemon does not. Server addresses (daemon@server) are
// ones without a name in /etc/hosts, for the same reason.

var (
	diffDaemons = []string{"srelay", "sockd", "rsockd"}
	diffClients = []string{"10.1.2.4", "10.1.2.5", "10.1.3.4", "192.168.7.9", "127.0.0.1", "172.16.0.1",
		"::1", "2001:db8::5", "2001:db8:1::5", "fe80::1"}
	daemonPats = []string{"srelay", "sockd", "rsockd", "ALL", "sshd", "in.telnetd", "SRELAY", ".ockd", "s*",
		"?sockd", "KNOWN", "srelay@127.0.0.1", "sockd@10.0.0.1", "ALL@ALL", "ALL@10.", "rsockd@10.0.0.0/8",
		"srelay@UNKNOWN", "ALL@KNOWN"}
	clientPats = []string{"ALL", "10.1.2.4", "10.1.", "10.1.2.", "10.", "192.168.", "10.1.2.0/255.255.255.0",
		"10.1.0.0/255.255.0.0", "10.1.2.0/24", "10.1.2.5/24", "10.0.0.0/8", "10.1.2.4/255.255.255.255",
		"10.1.2.4/32", "127.0.0.1", "127.", "[::1]", "[0::1]", "[2001:db8::]/32", "[2001:db8::]/48",
		"[2001:db8:1::]/48", "[::]/0", "[::1]/129", "[fe80::]/10", "::1", "10.1.*", "10.?.2.4", "*.4", "*",
		"192.168.7.?", ".4", ".example.com", "UNKNOWN", "KNOWN", "LOCAL", "PARANOID", "localhost", "unknown",
		"@netgroup", "ALL@10.1.2.4", "unknown@10.1.", "KNOWN@ALL", "10.1.2.4@ALL", "172.16.0.1"}
	optionsPool = []string{"", "", "", " : allow", " : deny", " : spawn echo %a", " : bogus", " : allow : deny",
		" : severity auth.info : deny", " : ALLOW", " : keepalive", " : nice 5 : allow", " : deny foo"}
)

func genList(r *rand.Rand, pool []string) string {
	var parts []string
	n := 1 + r.IntN(3)
	for range n {
		parts = append(parts, pool[r.IntN(len(pool))])
	}
	if r.IntN(3) == 0 {
		parts = append(parts, "EXCEPT", pool[r.IntN(len(pool))])
		if r.IntN(3) == 0 {
			parts = append(parts, "EXCEPT", pool[r.IntN(len(pool))])
		}
	}
	sep := []string{" ", ", ", ",", "\t"}[r.IntN(4)]
	return strings.Join(parts, sep)
}

func genFile(r *rand.Rand) string {
	var b strings.Builder
	n := r.IntN(5)
	for range n {
		switch r.IntN(12) {
		case 0:
			b.WriteString("# a comment: ALL: ALL\n")
		case 1:
			b.WriteString("\n")
		case 2: // no separator: libwrap skips it
			b.WriteString(genList(r, daemonPats) + " " + genList(r, clientPats) + "\n")
		case 3: // a continued line
			fmt.Fprintf(&b, "%s :\\\n  %s%s\n", genList(r, daemonPats), genList(r, clientPats), optionsPool[r.IntN(len(optionsPool))])
		default:
			fmt.Fprintf(&b, "%s : %s%s\n", genList(r, daemonPats), genList(r, clientPats), optionsPool[r.IntN(len(optionsPool))])
		}
	}
	s := b.String()
	if r.IntN(8) == 0 { // a last rule without its newline: Debian's libwrap reads it
		s += "ALL: ALL"
	}
	return s
}

// tcpdmatch asks Debian's tcpdmatch whether the files in dir grant daemon
// to client. As root it runs in a network namespace of its own: the name
// lookups of daemon@server then fail at once, as on a machine whose DNS
// has no name for the server, instead of waiting for this machine's
// resolver (seconds each) or finding a name in it.
func tcpdmatch(t *testing.T, dir, daemon, client string) bool {
	t.Helper()
	cmd := exec.Command("tcpdmatch", "-d", daemon, client)
	cmd.Dir = dir
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	}
	out, _ := cmd.CombinedOutput()
	var verdict string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "access:"); ok {
			verdict = strings.TrimSpace(v)
		}
	}
	switch verdict {
	case "granted":
		return true
	case "denied":
		return false
	}
	t.Fatalf("tcpdmatch %s %s: no verdict in\n%s", daemon, client, out)
	return false
}

func TestDifferentialTcpdmatch(t *testing.T) {
	if _, err := exec.LookPath("tcpdmatch"); err != nil {
		t.Skip("tcpdmatch not installed (Debian package tcpd; scripts/install-test-deps installs it)")
	}
	files, cases, granted := 400, 0, 0
	if testing.Short() {
		files = 40
	}
	r := rand.New(rand.NewPCG(21, 2026))
	dir := t.TempDir()
	for i := range files {
		allow, deny := genFile(r), genFile(r)
		if err := os.WriteFile(filepath.Join(dir, "hosts.allow"), []byte(allow), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "hosts.deny"), []byte(deny), 0o644); err != nil {
			t.Fatal(err)
		}
		at, dt := Parse("hosts.allow", []byte(allow)), Parse("hosts.deny", []byte(deny))
		for range 4 {
			daemon := diffDaemons[r.IntN(len(diffDaemons))]
			client := diffClients[r.IntN(len(diffClients))]
			rq := &Request{Daemon: daemon, Client: netip.AddrPortFrom(netip.MustParseAddr(client), 40000)}
			arg := daemon
			if r.IntN(3) == 0 { // daemon@server: the address the client reached
				// Addresses without a name in /etc/hosts: tcpdmatch looks
				// the server's name up (127.0.0.1 is localhost), the
				// daemon never does.
				srv := []string{"10.0.0.1", "10.1.2.4", "2001:db8::5"}[r.IntN(3)]
				arg += "@" + srv
				rq.Server = netip.AddrPortFrom(netip.MustParseAddr(srv), 1080)
			}
			want := tcpdmatch(t, dir, arg, client)
			got := Access(at, dt, rq)
			cases++
			if want {
				granted++
			}
			if got.Allow != want {
				t.Errorf("case %d: %s from %s (server %v): tcpdmatch says granted=%v, we say %v (%s)\n--- hosts.allow\n%s--- hosts.deny\n%s",
					i, daemon, client, rq.Server, want, got.Allow, got.Reason, allow, deny)
			}
		}
	}
	t.Logf("%d cases over %d file pairs agree with tcpdmatch (%d granted, %d denied)", cases, files, granted, cases-granted)
}
