package hostsaccess

import (
	"net/netip"
	"strings"
	"testing"
)

func req(daemon, client string) *Request {
	return &Request{Daemon: daemon, Client: netip.AddrPortFrom(netip.MustParseAddr(client), 1)}
}

func TestAccessExamples(t *testing.T) {
	allow := Parse("hosts.allow", []byte("srelay: 10.1.0.0/255.255.0.0 EXCEPT 10.1.2.3\n"))
	deny := Parse("hosts.deny", []byte("ALL: ALL\n"))
	for _, tc := range []struct {
		daemon, client string
		want           bool
		reason         string
	}{
		{"srelay", "10.1.2.4", true, "hosts.allow:1 matched: granted"},
		{"srelay", "10.1.2.3", false, "hosts.deny:1 matched: denied"},
		{"sockd", "10.1.2.4", false, "hosts.deny:1 matched: denied"},
	} {
		v := Access(allow, deny, req(tc.daemon, tc.client))
		if v.Allow != tc.want || v.Reason != tc.reason {
			t.Errorf("%s %s: got %v %q, want %v %q", tc.daemon, tc.client, v.Allow, v.Reason, tc.want, tc.reason)
		}
	}
	if v := Access(nil, nil, req("srelay", "192.0.2.1")); !v.Allow {
		t.Error("no files must grant")
	}
}

func TestMentionsAndWarnings(t *testing.T) {
	tb := Parse("hosts.allow", []byte("sshd: ALL\nsrelay@10.0.0.1: .example.com : spawn echo\nno separator here\n"))
	if !tb.Mentions("srelay") || tb.Mentions("sockd") {
		t.Errorf("Mentions: srelay %v sockd %v", tb.Mentions("srelay"), tb.Mentions("sockd"))
	}
	all := Parse("hosts.deny", []byte("ALL EXCEPT sshd: ALL\n"))
	if !all.Mentions("sockd") || all.Mentions("sshd") {
		t.Error("ALL EXCEPT sshd must mention sockd and not sshd")
	}
	w := strings.Join(tb.Warnings, "\n")
	for _, want := range []string{
		`hosts.allow:2: ".example.com" matches host names`,
		`hosts.allow:2: option "spawn" is not run`,
		`hosts.allow:3: missing ":" separator`,
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
}

// FuzzParse: any file parses without panicking, and deciding with it
// never panics either.
func FuzzParse(f *testing.F) {
	f.Add([]byte("srelay: 10.1.0.0/255.255.0.0 EXCEPT 10.1.2.3 : allow\n"))
	f.Add([]byte("ALL EXCEPT sshd :\\\n [2001:db8::]/32, *.4 : spawn echo \\: x\nsrelay@[::1]: ALL"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tb := Parse("hosts.allow", data)
		for _, c := range []string{"10.1.2.4", "::1"} {
			r := req("srelay", c)
			r.Server = netip.MustParseAddrPort("127.0.0.1:1080")
			Access(tb, tb, r)
		}
		tb.Mentions("srelay")
	})
}
