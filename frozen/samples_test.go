package frozen

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sockd/sockd/config"
)

// The configurations below are written as Go values because the grammar
// is developed in parallel; they cover every field of the model.

const testCompiler = "sockd-toolchain 0.1.0"

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func maskAddr(a, m string) config.Addr {
	return config.Addr{Kind: config.AddrMask, IP: ip(a), Mask: ip(m)}
}

func cidrAddr(a, m string) config.Addr {
	x := maskAddr(a, m)
	x.CIDR = true
	return x
}

// testMeta is the metadata of a sample compiled from text read from
// source.
func testMeta(source, text string) Meta {
	return Meta{Source: source, SourceSHA256: HashSource([]byte(text)), Compiler: testCompiler}
}

func pattern(p string) config.Addr { return config.Addr{Kind: config.AddrPattern, Pattern: p} }

func sampleSockd() *File {
	text := []string{
		"#NO_IDENTD: /usr/local/bin/notify-admin %A",
		"#BAD_ID: mail -s \"bad ident %U from %A\" root",
		"deny 10.1.2.3 255.255.255.255",
		"permit ?=I *=alice,bob,/etc/sockd.users 10.0.0.0 255.0.0.0 0.0.0.0 0.0.0.0 eq telnet : /usr/bin/logger -t sockd \"%u@%A -> %Z:%p\"",
		"permit ?=i .corp.example 0.0.0.0 ALL 0.0.0.0 ge 1024",
		"permit ?=n 2001:db8::/32 ::ffff:10.0.0.0/104 lt 1024",
		"permit 192.168.0.0 255.0.255.0 fe80::1%eth0 ffff:ffff:ffff:ffff:: neq 25",
		"deny 0.0.0.0 0.0.0.0 : logger -t sockd \"refused %u@%a -> %z:%s\"",
	}
	return &File{
		Kind: KindSockdFC,
		Meta: testMeta("/etc/sockd.conf", "sockd.conf text"),
		Sockd: &config.SockdConf{
			Source:   "/etc/sockd.conf",
			NoIdentd: &config.Special{Pos: config.Pos{Line: 1, Col: 1}, Command: "/usr/local/bin/notify-admin %A", Text: text[0]},
			BadID:    &config.Special{Pos: config.Pos{Line: 2, Col: 1}, Command: "mail -s \"bad ident %U from %A\" root", Text: text[1]},
			Rules: []config.Rule{
				{Pos: config.Pos{Line: 3, Col: 1}, Action: config.Deny, Src: maskAddr("10.1.2.3", "255.255.255.255"), Text: text[2]},
				{Pos: config.Pos{Line: 4, Col: 1}, Action: config.Permit, Ident: config.IdentStrict,
					Users: []string{"alice", "bob", "/etc/sockd.users"},
					Src:   maskAddr("10.0.0.0", "255.0.0.0"), Dst: maskAddr("0.0.0.0", "0.0.0.0"),
					Port:    config.PortTest{Op: config.OpEQ, Port: 23, Service: "telnet"},
					Command: "/usr/bin/logger -t sockd \"%u@%A -> %Z:%p\"", Text: text[3]},
				{Pos: config.Pos{Line: 5, Col: 1}, Action: config.Permit, Ident: config.IdentLenient,
					Src:  config.Addr{Kind: config.AddrPattern, Pattern: ".corp.example", Mask: ip("0.0.0.0")},
					Dst:  config.Addr{Kind: config.AddrPattern, Pattern: "ALL", Mask: ip("0.0.0.0")},
					Port: config.PortTest{Op: config.OpGE, Port: 1024}, Text: text[4]},
				{Pos: config.Pos{Line: 6, Col: 1}, Action: config.Permit, Ident: config.IdentOff,
					Src: cidrAddr("2001:db8::", "ffff:ffff::"), Dst: cidrAddr("::ffff:10.0.0.0", "ffff:ffff:ffff:ffff:ffff:ffff:ff00:0"),
					Port: config.PortTest{Op: config.OpLT, Port: 1024}, Text: text[5]},
				{Pos: config.Pos{Line: 7, Col: 1}, Action: config.Permit,
					Src: maskAddr("192.168.0.0", "255.0.255.0"), Dst: maskAddr("fe80::1%eth0", "ffff:ffff:ffff:ffff::"),
					Port: config.PortTest{Op: config.OpNEQ, Port: 25}, Text: text[6]},
				{Pos: config.Pos{Line: 8, Col: 1}, Action: config.Deny, Src: maskAddr("0.0.0.0", "0.0.0.0"),
					Command: "logger -t sockd \"refused %u@%a -> %z:%s\"", Text: text[7]},
			},
		},
	}
}

func sampleRoutes() *File {
	return &File{
		Kind: KindSockdFR,
		Meta: testMeta("sockd.route", "sockd.route text"),
		Route: &config.RouteConf{
			Source: "sockd.route",
			Routes: []config.Route{
				{Pos: config.Pos{Line: 2, Col: 1}, If: ip("10.0.0.1"), Dst: maskAddr("10.0.0.0", "255.0.0.0"), Text: "10.0.0.1 10.0.0.0 255.0.0.0"},
				{Pos: config.Pos{Line: 3, Col: 1}, If: ip("192.168.1.1"), Dst: config.Addr{Kind: config.AddrPattern, Pattern: ".internal.example", Mask: ip("0.0.0.0")},
					Text: "192.168.1.1 .internal.example 0.0.0.0"},
				{Pos: config.Pos{Line: 4, Col: 3}, If: ip("2001:db8::1"), Dst: cidrAddr("2001:db8:1::", "ffff:ffff:ffff::"), Text: "  2001:db8::1 2001:db8:1::/48"},
				{Pos: config.Pos{Line: 5, Col: 1}, If: ip("10.0.0.1"), Dst: maskAddr("0.0.0.0", "0.0.0.0"), Text: "10.0.0.1 0.0.0.0 0.0.0.0"},
			},
		},
	}
}

func sampleSocks() *File {
	return &File{
		Kind: KindSocksFC,
		Meta: testMeta("socks.conf", "socks.conf text"),
		Socks: &config.SocksConf{
			Source: "socks.conf",
			Rules: []config.ClientRule{
				{Pos: config.Pos{Line: 1, Col: 1}, Action: config.ClientDirect, Dst: maskAddr("127.0.0.0", "255.0.0.0"), Text: "direct 127.0.0.0 255.0.0.0"},
				{Pos: config.Pos{Line: 2, Col: 1}, Action: config.ClientDeny, Users: []string{"guest"}, Dst: maskAddr("0.0.0.0", "0.0.0.0"),
					Port: config.PortTest{Op: config.OpEQ, Port: 25, Service: "smtp"}, Text: "deny *=guest 0.0.0.0 0.0.0.0 eq smtp"},
				{Pos: config.Pos{Line: 3, Col: 1}, Action: config.ClientSockd,
					Servers: []config.Server{{Scheme: "socks4", Host: "proxy1.example", Port: 1080}, {Scheme: "socks4", Host: "10.0.0.2", Port: 1081}},
					Dst:     config.Addr{Kind: config.AddrPattern, Pattern: ".example.com", Mask: ip("0.0.0.0")},
					Command: "logger -t socks \"%U to %Z\"",
					Text:    "sockd @=proxy1.example,10.0.0.2:1081 .example.com 0.0.0.0 : logger -t socks \"%U to %Z\""},
				{Pos: config.Pos{Line: 4, Col: 1}, Action: config.ClientSockd,
					Servers: []config.Server{{Scheme: "socks5h", Host: "2001:db8::1", Port: 1080, URL: true}, {Scheme: "http", Host: "proxy", Port: 3128, URL: true}},
					Dst:     cidrAddr("0.0.0.0", "0.0.0.0"),
					Text:    "sockd @=socks5h://[2001:db8::1]:1080,http://proxy:3128 0.0.0.0/0"},
				{Pos: config.Pos{Line: 5, Col: 1}, Action: config.ClientSockd, Dst: maskAddr("0.0.0.0", "0.0.0.0"), Text: "sockd 0.0.0.0 0.0.0.0"},
			},
		},
	}
}

// tinyFiles are the smallest realistic file of each kind: the golden files
// and the exhaustive corruption tests use them.
// everySample is samples and tinyFiles, in a fixed order.
func everySample() []*File {
	tiny := tinyFiles()
	return append(samples(), tiny["sockd.fc"], tiny["sockd.fr"], tiny["socks.fc"])
}

func tinyFiles() map[string]*File {
	return map[string]*File{
		"sockd.fc": {Kind: KindSockdFC, Meta: testMeta("sockd.conf", "permit 10.0.0.0 255.0.0.0\n"),
			Sockd: &config.SockdConf{Source: "sockd.conf", Rules: []config.Rule{
				{Pos: config.Pos{Line: 1, Col: 1}, Action: config.Permit, Src: maskAddr("10.0.0.0", "255.0.0.0"), Text: "permit 10.0.0.0 255.0.0.0"}}}},
		"sockd.fr": {Kind: KindSockdFR, Meta: testMeta("sockd.route", "10.0.0.1 ALL 0.0.0.0\n"),
			Route: &config.RouteConf{Source: "sockd.route", Routes: []config.Route{
				{Pos: config.Pos{Line: 1, Col: 1}, If: ip("10.0.0.1"), Dst: pattern("ALL"), Text: "10.0.0.1 ALL 0.0.0.0"}}}},
		"socks.fc": {Kind: KindSocksFC, Meta: testMeta("socks.conf", "sockd @=gw .example 0.0.0.0\n"),
			Socks: &config.SocksConf{Source: "socks.conf", Rules: []config.ClientRule{
				{Pos: config.Pos{Line: 1, Col: 1}, Action: config.ClientSockd, Servers: []config.Server{{Scheme: "socks4", Host: "gw", Port: 1080}},
					Dst: pattern(".example"), Text: "sockd @=gw .example 0.0.0.0"}}}},
	}
}

// bigSockd builds an n-rule sockd.conf of the mix a large site has: host
// and network rules with user lists, service ports and logging commands.
func bigSockd(n int) *File {
	users := [][]string{nil, {"alice"}, {"alice", "bob", "carol"}, {"/etc/sockd.users"}, {"ops", "/etc/sockd.admins"}}
	services := []config.PortTest{{}, {Op: config.OpEQ, Port: 23, Service: "telnet"}, {Op: config.OpLT, Port: 1024}, {Op: config.OpGE, Port: 1024}, {Op: config.OpEQ, Port: 80, Service: "http"}}
	rules := make([]config.Rule, n)
	for i := range rules {
		a, b, c := byte(i>>16), byte(i>>8), byte(i)
		src := fmt.Sprintf("10.%d.%d.%d", a, b, c)
		r := config.Rule{
			Pos:    config.Pos{Line: i + 1, Col: 1},
			Action: config.Action(i % 3 / 2),
			Ident:  config.Ident(i % 4),
			Users:  users[i%len(users)],
			Src:    maskAddr(src, "255.255.255.255"),
			Port:   services[i%len(services)],
		}
		line := r.Action.String()
		if r.Ident != config.IdentDefault {
			line += " ?=" + [...]string{"", "n", "i", "I"}[r.Ident]
		}
		if r.Users != nil {
			line += " *=" + strings.Join(r.Users, ",")
		}
		line += " " + src + " 255.255.255.255"
		switch i % 4 {
		case 0:
			r.Dst = maskAddr(fmt.Sprintf("192.168.%d.0", c), "255.255.255.0")
			line += fmt.Sprintf(" 192.168.%d.0 255.255.255.0", c)
		case 1:
			r.Dst = pattern(fmt.Sprintf(".dept%d.example.com", i%97))
			line += " " + r.Dst.Pattern + " 0.0.0.0"
		case 2:
			r.Dst = cidrAddr(fmt.Sprintf("2001:db8:%x::", i&0xffff), "ffff:ffff:ffff::")
			line += " " + r.Dst.IP.String() + "/48"
		}
		if r.Port.Op != config.OpNone {
			port := r.Port.Service
			if port == "" {
				port = fmt.Sprint(r.Port.Port)
			}
			line += " " + r.Port.Op.String() + " " + port
		}
		if i%5 == 0 {
			r.Command = fmt.Sprintf("/usr/bin/logger -t sockd \"rule %d: %%u@%%A -> %%Z:%%p\"", i+1)
			line += " : " + r.Command
		}
		r.Text = line
		rules[i] = r
	}
	return &File{
		Kind:  KindSockdFC,
		Meta:  testMeta("/etc/sockd.conf", "big"),
		Sockd: &config.SockdConf{Source: "/etc/sockd.conf", Rules: rules},
	}
}

func mustEncode(t testing.TB, f *File) []byte {
	t.Helper()
	data, err := Encode(f)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return data
}

// reseal rewrites the header of data (which starts with a magic and is at
// least HeaderSize long) so that its version, length and checksum are
// right for whatever body follows: it lets tests and the fuzzer reach the
// body decoder with damaged bodies.
func reseal(data []byte) []byte {
	out := append([]byte(nil), data...)
	k, _ := KindOf(out)
	return sealBody(k, out[HeaderSize:])
}

// sealBody builds a file of kind k around a raw body.
func sealBody(k Kind, rawBody []byte) []byte {
	out := make([]byte, HeaderSize, HeaderSize+len(rawBody))
	out = append(out, rawBody...)
	copy(out, k.Magic())
	out[8], out[9], out[10], out[11] = 0, 0, 0, FormatVersion
	n := uint64(len(rawBody))
	for i := 0; i < 8; i++ {
		out[12+i] = byte(n >> (56 - 8*i))
	}
	sum := checksum(out, out[HeaderSize:])
	copy(out[lengthEnd:checksumEnd], sum[:])
	return out
}
