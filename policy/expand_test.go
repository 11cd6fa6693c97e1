package policy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sockd/sockd/policy"
)

func TestExpand(t *testing.T) {
	v := policy.Vars{ClientName: "pc.corp", ClientIP: "10.0.0.1", Command: "connect", Pid: 77,
		Service: "telnet", Port: 23, IdentUser: "alice", User: "bob", DstName: "host.example", DstIP: "192.0.2.1"}
	tests := []struct {
		tmpl string
		v    policy.Vars
		want string
	}{
		{"%A %a %c %p %S %s %U %u %Z %z %%", v, "pc.corp 10.0.0.1 connect 77 telnet 23 alice bob host.example 192.0.2.1 %"},
		{"%A %S %U %Z", policy.Vars{ClientIP: "10.0.0.1", Port: 8080, DstIP: "192.0.2.1"}, "10.0.0.1 8080 unknown 192.0.2.1"},
		{"x%qy%", v, "xy"},                    // unknown token and trailing % expand to nothing
		{"a%%%u", v, "a%bob"},                 // %% then %u
		{"$(id) `x` ;|&", v, "$(id) `x` ;|&"}, // the template itself is not filtered
		// Every byte outside [0-9A-Za-z!@%-_=+:,./] of an expansion becomes
		// '_': note '-' and '_' and '%' are allowed, '\\' is not, and a
		// two-byte UTF-8 character becomes two underscores.
		{"%u", policy.Vars{User: `a-b_c%d!e@f=g+h:i,j.k/l`}, `a-b_c%d!e@f=g+h:i,j.k/l`},
		{"%u", policy.Vars{User: "a\\b c;d$e`f'g\"h|i&j<k>l(m)n*o?p[q]r{s}t~u#v^w\n\tx"},
			"a_b_c_d_e_f_g_h_i_j_k_l_m_n_o_p_q_r_s_t_u_v_w__x"},
		{"%u", policy.Vars{User: "é1"}, "__1"},
		{"echo '%A'", policy.Vars{ClientName: "x';reboot;'"}, "echo 'x__reboot__'"},
	}
	for _, tc := range tests {
		got, err := policy.Expand(tc.tmpl, tc.v)
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.tmpl, got, err, tc.want)
		}
	}
}

func TestExpandRefusals(t *testing.T) {
	for _, tmpl := range []string{"", "%u", "%x%y", ";; %%", "%"} {
		got, err := policy.Expand(tmpl, policy.Vars{User: "!!"})
		if !errors.Is(err, policy.ErrNoAlnum) || got != "" {
			t.Errorf("Expand(%q) = %q, %v; want ErrNoAlnum", tmpl, got, err)
		}
	}
	_, err := policy.Expand("%u", policy.Vars{User: "$$"})
	if err == nil || err.Error() != `shell command "__" contains no alphanumeric characters` {
		t.Errorf("message = %v", err)
	}
	long := strings.Repeat("%u", policy.MaxCommandLen/10+1)
	if _, err := policy.Expand(long, policy.Vars{User: "0123456789"}); !errors.Is(err, policy.ErrCommandTooLong) {
		t.Errorf("overflow: err = %v", err)
	}
	exact := strings.Repeat("a", policy.MaxCommandLen)
	if got, err := policy.Expand(exact, policy.Vars{}); err != nil || got != exact {
		t.Errorf("a command of exactly MaxCommandLen was refused: %v", err)
	}
}

func TestParseServices(t *testing.T) {
	m := policy.ParseServices([]byte("# comment\nftp\t\t21/tcp\nfsp 21/udp fspd\nssh 22/tcp\nsecondssh 22/tcp\nbad x/tcp\n\nsocks 1080/tcp # SOCKS\n"))
	want := map[uint16]string{21: "ftp", 22: "ssh", 1080: "socks"}
	if len(m) != len(want) {
		t.Fatalf("got %v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("port %d = %q, want %q", k, m[k], v)
		}
	}
}

func FuzzExpand(f *testing.F) {
	f.Add("echo %u@%A %%", "bob", "pc.example")
	f.Add("%", "", "")
	f.Fuzz(func(t *testing.T, tmpl, user, name string) {
		got, err := policy.Expand(tmpl, policy.Vars{User: user, ClientName: name, ClientIP: "10.0.0.1"})
		if err != nil {
			return
		}
		if len(got) > policy.MaxCommandLen {
			t.Fatalf("result longer than the cap: %d", len(got))
		}
		// With a template free of % and of unsafe bytes, the output may
		// contain nothing unsafe: no expansion can smuggle shell syntax.
		if !strings.ContainsAny(tmpl, "$`;|&<>()'\"\\ \n") {
			if strings.ContainsAny(got, "$`;|&<>()'\"\\\n") {
				t.Fatalf("Expand(%q) with user %q let unsafe bytes through: %q", tmpl, user, got)
			}
		}
	})
}

func FuzzParseUserFile(f *testing.F) {
	f.Add([]byte("alice, bob\tcarol # comment\n\n,,dave"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ids, err := policy.ParseUserFile("/f", data)
		if err != nil {
			return
		}
		for _, id := range ids {
			if id == "" || strings.ContainsAny(id, " \t,#\n") {
				t.Fatalf("bad id %q", id)
			}
		}
	})
}

func FuzzParseServices(f *testing.F) {
	f.Add([]byte("ftp 21/tcp\nsocks 1080/tcp # x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range policy.ParseServices(data) {
			if name == "" || strings.ContainsAny(name, " \t\n#") {
				t.Fatalf("bad name %q", name)
			}
		}
	})
}
