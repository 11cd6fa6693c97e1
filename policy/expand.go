package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Vars are the values of the %-substitutions of a shell command (spec
// §1.6). Empty fields fall back as 4.3 did: %A to ClientIP, %Z to DstIP, %S
// to the port number, %U to "unknown".
type Vars struct {
	ClientName string // %A: the client's host name, if known
	ClientIP   string // %a
	Command    string // %c: "connect", "bind" or "udp"
	Pid        int    // %p: the daemon's process id
	Service    string // %S: the destination port's service name, if known
	Port       uint16 // %s
	IdentUser  string // %U: the user identd reported
	User       string // %u: the user the client claimed
	DstName    string // %Z: the destination's host name, if known
	DstIP      string // %z: the destination address, or its name when no address is known
}

// MaxCommandLen caps an expanded command. 4.3 expanded into a BUFSIZ (8192)
// buffer with its terminating NUL and exited when it overflowed; we refuse
// the command instead.
const MaxCommandLen = 8191

// Errors of Expand; the returned errors wrap them. The daemon logs
// "error -- " + err.Error() + "." to reproduce 4.3's line.
var (
	ErrNoAlnum        = errors.New("contains no alphanumeric characters")
	ErrCommandTooLong = errors.New("shell command too long")
)

// Expand performs the %-substitutions of template.
//
// %A %a %c %p %S %s %U %u %Z %z expand as Vars documents and %% to '%'. Any
// other %x expands to nothing, as does a '%' at the very end. In every
// expansion (not in the template's own text), a character outside
// [0-9A-Za-z!@%-_=+:,./] becomes '_', so a hostile USERID or reverse name
// cannot inject shell syntax. In 4.3's C source the set is a string of
// allowed characters, so "%-_" is three characters, not a range, and "\:"
// is C's escape for ':' alone: the backslash is NOT allowed (it could
// otherwise escape a quote of the template). A result without any
// alphanumeric character is refused, as is one longer than MaxCommandLen.
func Expand(template string, v Vars) (string, error) {
	var b strings.Builder
	b.Grow(len(template) + 32)
	for i := 0; i < len(template); i++ {
		c := template[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(template) {
			break
		}
		switch template[i] {
		case '%':
			b.WriteByte('%')
		case 'A':
			writeSafe(&b, orElse(v.ClientName, v.ClientIP))
		case 'a':
			writeSafe(&b, v.ClientIP)
		case 'c':
			writeSafe(&b, v.Command)
		case 'p':
			b.WriteString(strconv.Itoa(v.Pid))
		case 'S':
			writeSafe(&b, orElse(v.Service, strconv.Itoa(int(v.Port))))
		case 's':
			b.WriteString(strconv.Itoa(int(v.Port)))
		case 'U':
			writeSafe(&b, orElse(v.IdentUser, "unknown"))
		case 'u':
			writeSafe(&b, v.User)
		case 'Z':
			writeSafe(&b, orElse(v.DstName, v.DstIP))
		case 'z':
			writeSafe(&b, v.DstIP)
		}
		if b.Len() > MaxCommandLen {
			break
		}
	}
	out := b.String()
	if len(out) > MaxCommandLen {
		return "", fmt.Errorf("%w: %s...", ErrCommandTooLong, out[:64])
	}
	if strings.IndexFunc(out, isAlnum) < 0 {
		return "", fmt.Errorf("shell command \"%s\" %w", out, ErrNoAlnum)
	}
	return out, nil
}

func orElse(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}

func isAlnum(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z'
}

// safeInExpansion reports whether c may appear unchanged in an expansion.
func safeInExpansion(c byte) bool {
	return isAlnum(rune(c)) || strings.IndexByte("!@%-_=+:,./", c) >= 0
}

// writeSafe writes s byte by byte, replacing unsafe bytes with '_' (each
// byte of a multi-byte character becomes one '_', as 4.3's char loop did).
func writeSafe(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; safeInExpansion(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
}

// usesToken reports whether template contains the substitution %c.
func usesToken(template string, c byte) bool {
	for i := 0; i+1 < len(template); i++ {
		if template[i] == '%' {
			if template[i+1] == c {
				return true
			}
			i++
		}
	}
	return false
}

// ParseServices returns the TCP port→name table of an /etc/services file
// (the first name listed for a port wins, as getservbyport returns it).
func ParseServices(data []byte) map[uint16]string {
	out := map[uint16]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		port, proto, ok := strings.Cut(f[1], "/")
		if !ok || proto != "tcp" {
			continue
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			continue
		}
		if _, seen := out[uint16(n)]; !seen {
			out[uint16(n)] = f[0]
		}
	}
	return out
}

// serviceName looks up %S.
func (p *Policy) serviceName(port uint16) string {
	if p.opts.ServiceName != nil {
		name, _ := p.opts.ServiceName(port)
		return name
	}
	p.servicesOnce.Do(func() {
		if data, err := p.opts.ReadFile(p.opts.ServicesFile); err == nil {
			p.services = ParseServices(data)
		}
	})
	return p.services[port]
}

// expandFor expands a command template for the request being decided,
// asking for host names and service names only when the template uses them.
func (p *Policy) expandFor(st *evalState, d *Decision, template string) (string, error) {
	req := st.req
	v := Vars{
		ClientIP: addrString(req.SrcIP),
		Command:  req.Command.String(),
		Pid:      p.opts.Pid,
		Port:     req.DstPort,
		User:     req.User,
	}
	if req.DstIP.IsValid() {
		v.DstIP = addrString(req.DstIP)
	} else {
		// A SOCKS4a/SOCKS5 request whose name was not resolved has no
		// address; the name it carried is the most a command can be told
		// (4.3 had no such requests, so an empty %z was never its answer).
		v.DstIP = req.DstName
	}
	if d.IdentAsked() && d.IdentErr == nil {
		v.IdentUser = d.IdentUser
	}
	if usesToken(template, 'A') {
		if names := st.sourceNames(); len(names) > 0 {
			v.ClientName = strings.TrimSuffix(names[0], ".")
		}
	}
	if usesToken(template, 'Z') {
		if req.DstName != "" {
			v.DstName = req.DstName
		} else if names := st.destinationNames(); len(names) > 0 {
			v.DstName = strings.TrimSuffix(names[0], ".")
		}
	}
	if usesToken(template, 'S') {
		v.Service = p.serviceName(req.DstPort)
	}
	return Expand(template, v)
}

// addrString renders an address for %a and %z: unmapped, "" when unknown.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.Unmap().String()
}
