package cli

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockd/sockd/internal/simulate"
	"github.com/sockd/sockd/internal/testnet"
)

// simConf covers every field of a sockd.conf line, every ?= setting and
// every port operator. The line numbers in the table below are its lines.
const simConf = `#NO_IDENTD: echo noident %A
#BAD_ID: echo badid %U %u
deny ?=n 10.1.2.3 255.255.255.255
permit ?=I *=alice,USERS 10.0.0.0 255.0.0.0 0.0.0.0 0.0.0.0 eq telnet
permit ?=i *=carol 10.0.0.0 255.0.0.0 0.0.0.0 0.0.0.0 eq 25
permit *=root .corp.example 0.0.0.0 ALL 0.0.0.0 lt 1024 : echo %u@%A %c %Z:%s
permit 10.0.0.0 255.0.0.0 192.168.0.0 255.255.0.0 neq 22
permit 10.0.0.0 255.0.0.0 0.0.0.0 0.0.0.0 ge 1024
permit 172.16.0.0 255.240.0.0 10.0.0.0 255.0.255.0 gt 8080
permit 172.16.0.0 255.240.0.0 0.0.0.0 0.0.0.0 le 80
permit 2001:db8::/32 .example.org 0.0.0.0 eq 443
permit 192.168.5.0 255.255.255.0 0.0.0.0 0.0.0.0
deny 0.0.0.0 0.0.0.0 : logger "refused %u@%a -> %z:%s"
`

// TestSimulateDecisions checks 4.3's decisions, worked out by hand from
// the spec, on the text file and on its frozen form, which must give the
// very same JSON.
func TestSimulateDecisions(t *testing.T) {
	dir := t.TempDir()
	users := testnet.WriteFileIn(t, dir, "users", "# extra users\ndave, erin\n")
	text := testnet.WriteFileIn(t, dir, "sockd.conf", strings.ReplaceAll(simConf, "USERS", users))
	frozenPath := filepath.Join(dir, "sockd.fc")
	if code, _, stderr := runTool(t, "make_sockdfc", "", text, frozenPath); code != 0 {
		t.Fatalf("make_sockdfc: exit %d: %s", code, stderr)
	}

	tests := []struct {
		args    string
		permit  bool
		line    int
		reply   int
		command string // the first shell command, "" for none
		assumed bool
	}{
		{"--from 10.1.2.3 --to 1.2.3.4 --port 23 --user alice", false, 3, 91, "", false},
		{"--from 10.1.2.4 --to 1.2.3.4 --port telnet --user alice", true, 4, 90, "", true},
		{"--from 10.1.2.4 --to 1.2.3.4 --port telnet --user alice --ident unreachable", false, 4, 92, "echo noident 10.1.2.4", false},
		{"--from 10.1.2.4 --to 1.2.3.4 --port telnet --user alice --ident mallory", false, 4, 93, "echo badid mallory alice", false},
		{"--from 10.1.2.4 --to 1.2.3.4 --port 23 --user dave --ident dave", true, 4, 90, "", false},
		{"--from 10.1.2.4 --to 1.2.3.4 --port 23 --user Dave", false, 13, 91, "logger \"refused Dave@10.1.2.4 -> 1.2.3.4:23\"", false},
		{"--from 10.9.9.9 --to 1.2.3.4 --port 25 --user carol --ident unreachable", true, 5, 90, "echo noident 10.9.9.9", false},
		{"--from 10.9.9.9 --to 1.2.3.4 --port 25 --user carol --ident eve", false, 5, 93, "echo badid eve carol", false},
		{"--from 10.0.0.9 --from-name gw.corp.example --to 1.2.3.4 --port 80 --user root", true, 6, 90, "echo root@gw.corp.example connect 1.2.3.4:80", false},
		{"--from 10.0.0.9 --to 192.168.1.1 --port 80 --user root", true, 7, 90, "", false},
		{"--from 10.0.0.9 --to 192.168.1.1 --port 22 --user x", false, 13, 91, "logger \"refused x@10.0.0.9 -> 192.168.1.1:22\"", false},
		{"--from 10.0.0.9 --from-name gw.corp.example --to 1.2.3.4 --port 1024 --user root", true, 8, 90, "", false},
		{"--from 10.0.0.9 --to 8.8.8.8 --port 2000 --command bind", true, 8, 90, "", false},
		{"--from 172.16.1.1 --to 10.5.0.7 --port 8081", true, 9, 90, "", false},
		{"--from 172.16.1.1 --to 10.5.1.7 --port 8081", false, 13, 91, "logger \"refused @172.16.1.1 -> 10.5.1.7:8081\"", false},
		{"--from 172.16.1.1 --to 10.5.1.7 --port 80", true, 10, 90, "", false},
		{"--from 2001:db8::5 --to www.example.org --port 443", true, 11, 90, "", false},
		{"--from 2001:db8::5 --to www.example.com --port 443", false, 13, 91, "logger \"refused @2001:db8::5 -> www.example.com:443\"", false},
		{"--from 192.168.5.5 --to 1.2.3.4 --port 80 -I --ident unreachable", false, 12, 92, "echo noident 192.168.5.5", false},
		{"--from 192.168.5.5 --to 1.2.3.4 --port 80 -i --ident unreachable", true, 12, 90, "echo noident 192.168.5.5", false},
		{"--from 192.168.5.5 --to 1.2.3.4 --port 80 --ident unreachable", true, 12, 90, "", false},
		{"--from 192.168.5.5 --to 1.2.3.4 --port 80 --user alice -I --ident bob", false, 12, 93, "echo badid bob alice", false},
		{"--from 10.1.2.3 --to 1.2.3.4 --port 80 -I --ident unreachable", false, 3, 91, "", false},
		{"--from 8.8.8.8 --to 1.2.3.4 --port 80", false, 13, 91, "logger \"refused @8.8.8.8 -> 1.2.3.4:80\"", false},
	}
	for _, tc := range tests {
		var outs [2]string
		for i, conf := range []string{text, frozenPath} {
			args := append([]string{"simulate", "-c", conf, "--json"}, strings.Fields(tc.args)...)
			code, stdout, stderr := runTool(t, "sockd", "", args...)
			wantCode := 1
			if tc.permit {
				wantCode = 0
			}
			if code != wantCode {
				t.Errorf("%s (%s): exit %d, want %d; stderr: %s", tc.args, filepath.Base(conf), code, wantCode, stderr)
			}
			var res simulate.Result
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatalf("%s: bad JSON %q: %v", tc.args, stdout, err)
			}
			wantDecision := map[bool]string{true: "permit", false: "deny"}[tc.permit]
			if res.Decision != wantDecision || res.Line != tc.line || res.Reply != tc.reply {
				t.Errorf("%s: got %s line %d reply %d, want %s line %d reply %d", tc.args, res.Decision, res.Line, res.Reply, wantDecision, tc.line, tc.reply)
			}
			gotCmd := ""
			if len(res.Command) > 0 {
				gotCmd = res.Command[0]
			}
			if gotCmd != tc.command {
				t.Errorf("%s: command %q, want %q", tc.args, gotCmd, tc.command)
			}
			if (len(res.Assumed) > 0) != tc.assumed {
				t.Errorf("%s: assumed %q, want assumptions: %v", tc.args, res.Assumed, tc.assumed)
			}
			outs[i] = stdout
		}
		// The file name differs (text vs frozen source record is the same
		// text path), so the whole JSON must be identical.
		if outs[0] != outs[1] {
			t.Errorf("%s: text and frozen forms differ:\n%s\n%s", tc.args, outs[0], outs[1])
		}
	}
}

// TestSimulateBatch replays several requests in one run, in both output
// forms, and reports a malformed line by its position without stopping.
func TestSimulateBatch(t *testing.T) {
	dir := t.TempDir()
	conf := testnet.WriteFileIn(t, dir, "sockd.conf", "permit 10.0.0.0/8 0.0.0.0 0.0.0.0 lt 1024\ndeny 0.0.0.0 0.0.0.0\n")
	batch := "# replay\n--from 10.0.0.1 --to 192.0.2.1 --port 80\n\n--from 10.0.0.1 --to 192.0.2.1 --port 8080\n--from nowhere --to x --port 1\n--from 10.0.0.2 --to 'www.example.org' --port http\n"
	code, stdout, stderr := runTool(t, "sockd", batch, "simulate", "-c", conf, "--batch", "-", "--json")
	if code != 2 {
		t.Errorf("exit %d, want 2 (a malformed line)", code)
	}
	if !strings.Contains(stderr, "<stdin>:5: --from \"nowhere\" is not an IP address") {
		t.Errorf("stderr does not name the bad line: %q", stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	want := []string{`"decision":"permit","line":1`, `"decision":"deny","line":2`, `"decision":"permit","line":1`}
	if len(lines) != len(want) {
		t.Fatalf("got %d results, want %d:\n%s", len(lines), len(want), stdout)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("result %d = %s, want %s", i, lines[i], w)
		}
	}
	// All permitted: status 0; one refused: status 1.
	if code, _, _ := runTool(t, "sockd", "--from 10.0.0.1 --to 192.0.2.1 --port 80\n", "simulate", "-c", conf, "--batch", "-"); code != 0 {
		t.Errorf("all permitted: exit %d, want 0", code)
	}
	if code, out, _ := runTool(t, "sockd", "--from 10.0.0.1 --to 192.0.2.1 --port 80\n--from 10.0.0.1 --to 192.0.2.1 --port 9999\n", "simulate", "-c", conf, "--batch", "-", "--no-trace"); code != 1 || strings.Count(out, "deciding line") != 2 {
		t.Errorf("one refused: exit %d, want 1; output:\n%s", code, out)
	}
}

func runTool(t *testing.T, name, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(name, args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestSimulateSaysWhenTheDaemonResolves: for a host name without --to-ip,
// simulate says whether the daemon decides by the name alone (and so never
// resolves it) or resolves it first, as the daemon's
// policy.DecideBeforeResolve does.
func TestSimulateSaysWhenTheDaemonResolves(t *testing.T) {
	conf := testnet.WriteFileT(t, "sockd.conf", "deny 0.0.0.0 0.0.0.0 .com 0.0.0.0\npermit 0.0.0.0 0.0.0.0 10.0.0.0 255.0.0.0\n")
	for _, tc := range []struct{ to, note string }{
		{"www.example.com", "decided by name: the daemon does not resolve www.example.com for this decision"},
		{"www.example.org", "the daemon resolves www.example.org and decides by its address: give --to-ip for that decision"},
		{"10.1.2.3", ""},
	} {
		_, stdout, stderr := runTool(t, "sockd", "", "simulate", "-c", conf, "--json", "--from", "10.0.0.1", "--to", tc.to, "--port", "80")
		var res simulate.Result
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("%s: bad JSON %q (%s): %v", tc.to, stdout, stderr, err)
		}
		got := strings.Join(res.Notes, "; ")
		if got != tc.note {
			t.Errorf("--to %s: notes %q, want %q", tc.to, got, tc.note)
		}
	}
}

// TestSimulateClientConfig: the simulator shows the route of a permitted
// request, and a route that socks.conf denies makes the request refused.
func TestSimulateClientConfig(t *testing.T) {
	dir := t.TempDir()
	sc := testnet.WriteFileIn(t, dir, "sockd.conf", "permit 0.0.0.0 0.0.0.0\n")
	cc := testnet.WriteFileIn(t, dir, "socks.conf", "deny 10.0.0.0 255.0.0.0\nsockd @=socks5h://192.0.2.1:1081,http://192.0.2.2 0.0.0.0 0.0.0.0\n")
	var out, errb bytes.Buffer
	code := Main("sockd", []string{"simulate", "-c", sc, "--client-config", cc, "--from", "192.0.2.50", "--to", "www.example.org", "--port", "443"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"PERMITTED", "route to www.example.org:443: THROUGH UPSTREAM", "deciding line: 2: sockd @=socks5h://",
		"line 1 tried: destination does not match", "socks5h://192.0.2.1:1081 -> www.example.org:443", "http://192.0.2.2:8080 -> www.example.org:443"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	code = Main("sockd", []string{"simulate", "-c", sc, "--client-config", cc, "--from", "192.0.2.50", "--to", "10.1.1.1", "--port", "80", "--json"}, nil, &out, &errb)
	if code != ExitInvalid {
		t.Fatalf("denied route: exit %d, want %d", code, ExitInvalid)
	}
	var res simulate.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Decision != "deny" || res.Route == nil || res.Route.Action != "deny" || res.Route.Line != 1 {
		t.Fatalf("json: %s", out.String())
	}
}

// TestSimulateDefaultServer: the simulator routes a sockd line without @=
// through the default server the daemon would use: --default-server, else
// SOCKS_SERVER.
func TestSimulateDefaultServer(t *testing.T) {
	dir := t.TempDir()
	sc := testnet.WriteFileIn(t, dir, "sockd.conf", "permit 0.0.0.0 0.0.0.0\n")
	cc := testnet.WriteFileIn(t, dir, "socks.conf", "sockd ALL\n")
	args := []string{"simulate", "-c", sc, "--client-config", cc, "--from", "192.0.2.50", "--to", "198.51.100.7", "--port", "80"}
	for _, tc := range []struct {
		env   string
		extra []string
		want  string
	}{
		{"", nil, "the line names no server (@=)"},
		{"192.0.2.1:1080", nil, "socks4://192.0.2.1:1080 -> 198.51.100.7:80"},
		{"192.0.2.1:1080", []string{"--default-server", "socks5://192.0.2.2:1081"}, "socks5://192.0.2.2:1081 -> 198.51.100.7:80"},
	} {
		t.Setenv("SOCKS_SERVER", tc.env)
		var out, errb bytes.Buffer
		Main("sockd", append(append([]string{}, args...), tc.extra...), nil, &out, &errb)
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("SOCKS_SERVER=%q %v: output lacks %q:\n%s%s", tc.env, tc.extra, tc.want, out.String(), errb.String())
		}
	}
}

// TestExitStatuses pins the documented statuses: 0 success, 1 invalid input
// (or refused), 2 usage mistakes.
func TestExitStatuses(t *testing.T) {
	dir := t.TempDir()
	good := testnet.WriteFileIn(t, dir, "good.conf", "permit 127.0.0.0/8\ndeny 0.0.0.0 0.0.0.0\n")
	bad := testnet.WriteFileIn(t, dir, "bad.conf", "permit 10.0.0.0 255.0.0.0 eq\n")
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"make_sockdfc", []string{good, filepath.Join(dir, "good.fc")}, 0},
		{"make_sockdfc", []string{bad, filepath.Join(dir, "bad.fc")}, 1},
		{"make_sockdfc", []string{"a", "b", "c"}, 2},
		{"make_sockdfc", []string{"--no-such-flag"}, 2},
		{"dump_sockdfc", []string{filepath.Join(dir, "good.fc")}, 0},
		{"dump_sockdfc", []string{good}, 1}, // text, not frozen
		{"dump_sockdfc", []string{"x", "y"}, 2},
		{"sockd", []string{"simulate", "-c", good, "--from", "127.0.0.1", "--to", "192.0.2.1", "--port", "80"}, 0},
		{"sockd", []string{"simulate", "-c", good, "--from", "10.0.0.1", "--to", "192.0.2.1", "--port", "80"}, 1},
		{"sockd", []string{"simulate", "-c", good, "--from", "10.0.0.1"}, 2},
		{"sockd", []string{"simulate", "-c", bad, "--from", "10.0.0.1", "--to", "192.0.2.1", "--port", "80"}, 2},
		{"sockd", []string{"simulate", "stray", "-c", good}, 2},
		{"sockd", []string{"lint", "-c", good}, 0},
		{"sockd", []string{"-ver"}, 1}, // as 4.3
		{"no_such_tool", nil, 2},
	}
	for _, tc := range tests {
		if code, _, stderr := runTool(t, tc.name, "", tc.args...); code != tc.want {
			t.Errorf("%s %q: exit %d, want %d; stderr: %s", tc.name, tc.args, code, tc.want, stderr)
		}
	}
}
