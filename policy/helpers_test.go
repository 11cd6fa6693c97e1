package policy_test

import (
	"net/netip"

	"github.com/sockd/sockd/config"
)

func mask(ip, m string) config.Addr {
	return config.Addr{Kind: config.AddrMask, IP: netip.MustParseAddr(ip), Mask: netip.MustParseAddr(m)}
}

func cidr(s string) config.Addr {
	p := netip.MustParsePrefix(s)
	bits := p.Addr().BitLen()
	m := netip.PrefixFrom(allOnes(bits), p.Bits()).Masked().Addr()
	return config.Addr{Kind: config.AddrMask, IP: p.Addr(), Mask: m, CIDR: true}
}

func allOnes(bits int) netip.Addr {
	if bits == 32 {
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	var b [16]byte
	for i := range b {
		b[i] = 0xff
	}
	return netip.AddrFrom16(b)
}

func pat(p string) config.Addr { return config.Addr{Kind: config.AddrPattern, Pattern: p} }

var anyAddr = config.Addr{Kind: config.AddrAny}

func port(op config.PortOp, p uint16) config.PortTest { return config.PortTest{Op: op, Port: p} }

// conf numbers the rules' lines 1..n.
func conf(rules ...config.Rule) *config.SockdConf {
	for i := range rules {
		rules[i].Pos = config.Pos{Line: i + 1, Col: 1}
		if rules[i].Text == "" {
			rules[i].Text = rules[i].Action.String() + " ..."
		}
	}
	return &config.SockdConf{Source: "sockd.conf", Rules: rules}
}

func permit(src, dst config.Addr) config.Rule {
	return config.Rule{Action: config.Permit, Src: src, Dst: dst}
}

func deny(src, dst config.Addr) config.Rule {
	return config.Rule{Action: config.Deny, Src: src, Dst: dst}
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }
