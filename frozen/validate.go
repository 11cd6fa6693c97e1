package frozen

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"

	"github.com/sockd/sockd/config"
)

// validate checks what msgpack cannot: that every value is one the
// compiler can produce. Decode runs it so that a crafted file with a valid
// checksum still cannot load, say, action 7 into the daemon; Encode runs it
// so that a file which Decode would refuse is never written. rulesChecked
// says the sockd.conf rules were validated already: the reader does that
// as it reads each one.
func validate(k Kind, b *body, rulesChecked bool) error {
	if err := validateHead(k, b); err != nil {
		return err
	}
	switch {
	case k == KindSockdFC && rulesChecked:
		return validateSpecials(b.Sockd)
	case k == KindSockdFC:
		return validateSockd(b.Sockd)
	case k == KindSockdFR:
		return validateRoutes(b.Route)
	default:
		return validateSocks(b.Socks)
	}
}

// validateHead checks the metadata and that the body holds exactly the
// payload of its kind.
func validateHead(k Kind, b *body) error {
	if !k.valid() {
		return fmt.Errorf("unknown kind %d", k)
	}
	if err := validateMeta(&b.Meta); err != nil {
		return err
	}
	present := [...]struct {
		kind Kind
		set  bool
	}{{KindSockdFC, b.Sockd != nil}, {KindSockdFR, b.Route != nil}, {KindSocksFC, b.Socks != nil}}
	for _, p := range present {
		switch {
		case p.kind == k && !p.set:
			return fmt.Errorf("a %s has no %q payload", k, k.payloadKey())
		case p.kind != k && p.set:
			return fmt.Errorf("a %s cannot hold a %q payload", k, p.kind.payloadKey())
		}
	}
	return nil
}

func validateMeta(m *Meta) error {
	switch {
	case m.SourceSHA256 == "" && m.Source != "":
		return fmt.Errorf("meta names the source %q but not its SHA-256", m.Source)
	case m.SourceSHA256 != "" && !isHexSHA256(m.SourceSHA256):
		return fmt.Errorf("meta source hash %q is not 64 lower-case hex digits", m.SourceSHA256)
	}
	return nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// where names an entry for messages: its index and, when known, its line.
func where(what string, i int, p config.Pos) string {
	if p.Line > 0 {
		return fmt.Sprintf("%s %d (line %d)", what, i+1, p.Line)
	}
	return fmt.Sprintf("%s %d", what, i+1)
}

func validatePos(p config.Pos) error {
	if p.Line < 0 || p.Col < 0 {
		return fmt.Errorf("negative position %d:%d", p.Line, p.Col)
	}
	return nil
}

func validateLine(text, command string) error {
	if strings.ContainsRune(text, '\n') {
		return fmt.Errorf("source text %q spans more than one line", text)
	}
	if strings.ContainsRune(command, '\n') {
		return fmt.Errorf("command %q spans more than one line", command)
	}
	return nil
}

func validateSockd(c *config.SockdConf) error {
	for i := range c.Rules {
		r := &c.Rules[i]
		if err := validateRule(r); err != nil {
			return fmt.Errorf("%s: %w", where("rule", i, r.Pos), err)
		}
	}
	return validateSpecials(c)
}

// validateSpecials checks the #NO_IDENTD: and #BAD_ID: lines.
func validateSpecials(c *config.SockdConf) error {
	for _, s := range []struct {
		name string
		sp   *config.Special
	}{{"#NO_IDENTD line", c.NoIdentd}, {"#BAD_ID line", c.BadID}} {
		if s.sp == nil {
			continue
		}
		if err := validatePos(s.sp.Pos); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if err := validateLine(s.sp.Text, s.sp.Command); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

func validateRule(r *config.Rule) error {
	if err := validatePos(r.Pos); err != nil {
		return err
	}
	if r.Action > config.Permit {
		return fmt.Errorf("unknown action %d", r.Action)
	}
	if r.Ident > config.IdentStrict {
		return fmt.Errorf("unknown ident setting %d", r.Ident)
	}
	if err := validateUsers(r.Users); err != nil {
		return err
	}
	if err := validateAddr(&r.Src); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if err := validateAddr(&r.Dst); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	if err := validatePort(&r.Port); err != nil {
		return err
	}
	return validateLine(r.Text, r.Command)
}

func validateUsers(users []string) error {
	for i, u := range users {
		if u == "" {
			return fmt.Errorf("user %d of the user list is empty", i+1)
		}
	}
	return nil
}

func validateAddr(a *config.Addr) error {
	switch a.Kind {
	case config.AddrAny:
		if a.IP.IsValid() || a.Mask.IsValid() || a.Pattern != "" || a.CIDR {
			return fmt.Errorf("an address that matches anything has an IP, mask, pattern or CIDR flag")
		}
	case config.AddrMask:
		switch {
		case !a.IP.IsValid() || !a.Mask.IsValid():
			return fmt.Errorf("an address with a mask lacks its IP or its mask")
		case a.IP.Is4() != a.Mask.Is4():
			return fmt.Errorf("IP %s and mask %s are of different families", a.IP, a.Mask)
		case a.Mask.Zone() != "":
			return fmt.Errorf("mask %s has a zone", a.Mask)
		case a.Pattern != "":
			return fmt.Errorf("an address with a mask also has the pattern %q", a.Pattern)
		case a.CIDR && !isPrefixMask(a.Mask):
			return fmt.Errorf("mask %s is written as a prefix length but is not contiguous", a.Mask)
		}
	case config.AddrPattern:
		switch {
		case a.Pattern == "":
			return fmt.Errorf("a name pattern is empty")
		case a.IP.IsValid():
			return fmt.Errorf("the name pattern %q also has the IP %s", a.Pattern, a.IP)
		case a.CIDR:
			return fmt.Errorf("the name pattern %q is marked as written with a prefix length", a.Pattern)
		}
	default:
		return fmt.Errorf("unknown address kind %d", a.Kind)
	}
	return nil
}

// isPrefixMask reports whether mask is some ones followed only by zeros,
// the only masks an addr/len spelling can express.
func isPrefixMask(mask netip.Addr) bool {
	b := mask.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	if mask.Is4() {
		hi, lo = lo<<32, 0 // the mask's 32 bits, leading
	}
	// Ones then zeros, inverted, is zeros then ones: adding one to it
	// carries through all of its ones and leaves no bit in common.
	nlo, carry := bits.Add64(^lo, 1, 0)
	nhi := ^hi + carry
	return ^hi&nhi == 0 && ^lo&nlo == 0
}

func validatePort(p *config.PortTest) error {
	if p.Op > config.OpGE {
		return fmt.Errorf("unknown port operator %d", p.Op)
	}
	if p.Op == config.OpNone && (p.Port != 0 || p.Service != "") {
		return fmt.Errorf("a port test without an operator has port %d %q", p.Port, p.Service)
	}
	return nil
}

func validateRoutes(c *config.RouteConf) error {
	for i := range c.Routes {
		rt := &c.Routes[i]
		err := validatePos(rt.Pos)
		if err == nil && !rt.If.IsValid() {
			err = fmt.Errorf("no interface address")
		}
		if err == nil {
			if err = validateAddr(&rt.Dst); err != nil {
				err = fmt.Errorf("destination: %w", err)
			}
		}
		if err == nil {
			err = validateLine(rt.Text, "")
		}
		if err != nil {
			return fmt.Errorf("%s: %w", where("route", i, rt.Pos), err)
		}
	}
	return nil
}

// knownSchemes are the config.Server schemes the client can speak.
var knownSchemes = []string{"socks4", "socks4a", "socks5", "socks5h", "http"}

func validateSocks(c *config.SocksConf) error {
	if c.Srelay {
		// Its chains and port ranges have no place in the format.
		return fmt.Errorf("a srelay.conf has no frozen form")
	}
	for i := range c.Rules {
		r := &c.Rules[i]
		if err := validateClientRule(r); err != nil {
			return fmt.Errorf("%s: %w", where("client rule", i, r.Pos), err)
		}
	}
	return nil
}

func validateClientRule(r *config.ClientRule) error {
	if err := validatePos(r.Pos); err != nil {
		return err
	}
	if r.Action > config.ClientSockd {
		return fmt.Errorf("unknown action %d", r.Action)
	}
	if len(r.Servers) > 0 && r.Action != config.ClientSockd {
		return fmt.Errorf("a %s line has a server list", r.Action)
	}
	for j := range r.Servers {
		s := &r.Servers[j]
		switch {
		case !slices.Contains(knownSchemes, s.Scheme):
			return fmt.Errorf("server %d: unknown scheme %q", j+1, s.Scheme)
		case s.Host == "":
			return fmt.Errorf("server %d: empty host", j+1)
		case s.Port == 0:
			return fmt.Errorf("server %d: port 0", j+1)
		}
	}
	if err := validateUsers(r.Users); err != nil {
		return err
	}
	if err := validateAddr(&r.Dst); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	if err := validatePort(&r.Port); err != nil {
		return err
	}
	return validateLine(r.Text, r.Command)
}
