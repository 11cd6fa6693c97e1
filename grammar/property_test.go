package grammar

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sockd/sockd/config"
	"pgregory.net/rapid"
)

// Generators of valid model values: whatever they produce must survive
// format → parse unchanged (but for Pos and Text).

func genIP(t *rapid.T, v6 bool, label string) netip.Addr {
	if v6 {
		return netip.AddrFrom16([16]byte(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, label)))
	}
	return netip.AddrFrom4([4]byte(rapid.SliceOfN(rapid.Byte(), 4, 4).Draw(t, label)))
}

func genAddr(t *rapid.T, label string) config.Addr {
	switch rapid.IntRange(0, 2).Draw(t, label+"kind") {
	case 0:
		pat := rapid.SampledFrom([]string{"ALL", "host.example", ".example", ".corp.example", "a-b_c.example"}).Draw(t, label+"pat")
		return config.Addr{Kind: config.AddrPattern, Pattern: pat}
	case 1: // addr mask, any mask (4.3 allows non-contiguous ones)
		v6 := rapid.Bool().Draw(t, label+"v6")
		return config.Addr{Kind: config.AddrMask, IP: genIP(t, v6, label+"ip"), Mask: genIP(t, v6, label+"mask")}
	default: // CIDR
		v6 := rapid.Bool().Draw(t, label+"v6")
		ip := genIP(t, v6, label+"ip")
		n := rapid.IntRange(0, ip.BitLen()).Draw(t, label+"len")
		return config.Addr{Kind: config.AddrMask, IP: ip, Mask: prefixMask(ip.BitLen(), n), CIDR: true}
	}
}

func genPort(t *rapid.T) config.PortTest {
	op := config.PortOp(rapid.IntRange(int(config.OpNone), int(config.OpGE)).Draw(t, "op"))
	if op == config.OpNone {
		return config.PortTest{}
	}
	if rapid.Bool().Draw(t, "named") {
		name := rapid.SampledFrom([]string{"telnet", "ftp", "http", "ssh"}).Draw(t, "service")
		return config.PortTest{Op: op, Port: uint16(testServices[name]), Service: name}
	}
	return config.PortTest{Op: op, Port: rapid.Uint16().Draw(t, "port")}
}

func genUsers(t *rapid.T) []string {
	if rapid.Bool().Draw(t, "anyuser") {
		return nil
	}
	return rapid.SliceOfN(rapid.SampledFrom([]string{"alice", "bob", "root", "/etc/u", "/etc/staff", "ü-ser"}), 1, 4).Draw(t, "users")
}

func genCommand(t *rapid.T) string {
	return rapid.SampledFrom([]string{"", "echo hi", "echo %u@%A # not a comment", "logger -t sockd \"x: y\"", "a:b"}).Draw(t, "cmd")
}

func TestRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		conf := &config.SockdConf{Source: "p.conf"}
		if rapid.Bool().Draw(t, "noident") {
			conf.NoIdentd = &config.Special{Command: genCommand(t)}
		}
		for i := range rapid.IntRange(0, 6).Draw(t, "rules") {
			_ = i
			r := config.Rule{
				Action:  config.Action(rapid.IntRange(0, 1).Draw(t, "action")),
				Ident:   config.Ident(rapid.IntRange(0, 3).Draw(t, "ident")),
				Users:   genUsers(t),
				Src:     genAddr(t, "src"),
				Port:    genPort(t),
				Command: genCommand(t),
			}
			if rapid.Bool().Draw(t, "hasdst") {
				r.Dst = genAddr(t, "dst")
			}
			conf.Rules = append(conf.Rules, r)
		}
		var text bytes.Buffer
		if err := config.WriteSockd(&text, conf); err != nil {
			t.Fatal(err)
		}
		got, diags := ParseSockd("p.conf", text.Bytes(), testOptions())
		if got == nil || diags.HasErrors() {
			t.Fatalf("canonical text does not compile:\n%s%s", text.String(), diagText(diags))
		}
		if d := cmp.Diff(conf, got, ignorePosText); d != "" {
			t.Fatalf("round trip differs (-want +got):\n%s\ntext:\n%s", d, text.String())
		}
	})
}

func TestRoundTripPropertySocks(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		conf := &config.SocksConf{Source: "s.conf"}
		for range rapid.IntRange(0, 5).Draw(t, "rules") {
			r := config.ClientRule{
				Action:  config.ClientAction(rapid.IntRange(0, 2).Draw(t, "action")),
				Users:   genUsers(t),
				Dst:     genAddr(t, "dst"),
				Port:    genPort(t),
				Command: genCommand(t),
			}
			if r.Action == config.ClientSockd && rapid.Bool().Draw(t, "servers") {
				for range rapid.IntRange(1, 3).Draw(t, "nservers") {
					scheme := rapid.SampledFrom(schemeNames).Draw(t, "scheme")
					url := scheme != "socks4" || rapid.Bool().Draw(t, "url")
					host := rapid.SampledFrom([]string{"proxy.example", "10.0.0.1", "2001:db8::1", "p"}).Draw(t, "host")
					r.Servers = append(r.Servers, config.Server{Scheme: scheme, Host: host, Port: rapid.Uint16Range(1, 65535).Draw(t, "sport"), URL: url})
				}
			}
			conf.Rules = append(conf.Rules, r)
		}
		var text bytes.Buffer
		config.WriteSocks(&text, conf)
		got, diags := ParseSocks("s.conf", text.Bytes(), testOptions())
		if got == nil || diags.HasErrors() {
			t.Fatalf("canonical text does not compile:\n%s%s", text.String(), diagText(diags))
		}
		if d := cmp.Diff(conf, got, ignorePosText); d != "" {
			t.Fatalf("round trip differs (-want +got):\n%s\ntext:\n%s", d, text.String())
		}
	})
}
