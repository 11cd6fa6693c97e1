package client

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/sockd/sockd/config"
)

// Schemes of upstream servers and what they do with host names.
const (
	SchemeSOCKS4  = "socks4"  // names resolved here; IPv4 only (4.3's protocol)
	SchemeSOCKS4a = "socks4a" // names sent to the server
	SchemeSOCKS5  = "socks5"  // names resolved here (curl's convention)
	SchemeSOCKS5h = "socks5h" // names sent to the server: no DNS query here
	SchemeHTTP    = "http"    // CONNECT; names sent to the server
)

// Upstream is one proxy server and the credentials to use with it.
type Upstream struct {
	Scheme string
	Host   string // name or address, IPv6 without brackets
	Port   uint16
	// User and Password authenticate to the server: RFC 1929 for SOCKS5,
	// Basic Proxy-Authorization for HTTP; for SOCKS4 and 4a, User is the
	// USERID and Password is not used.
	User, Password string
}

// Addr is host:port, as net.Dial takes it.
func (u Upstream) Addr() string { return net.JoinHostPort(u.Host, strconv.Itoa(int(u.Port))) }

// String names the server without its credentials: it goes into logs.
func (u Upstream) String() string { return u.Scheme + "://" + u.Addr() }

// ResolvesNames reports whether the server is given host names as they are
// (so that no DNS query is made on this side).
func (u Upstream) ResolvesNames() bool {
	return u.Scheme == SchemeSOCKS4a || u.Scheme == SchemeSOCKS5h || u.Scheme == SchemeHTTP
}

func defaultPort(scheme string) (uint16, bool) {
	switch scheme {
	case SchemeSOCKS4, SchemeSOCKS4a, SchemeSOCKS5, SchemeSOCKS5h:
		return 1080, true
	case SchemeHTTP:
		return 8080, true
	}
	return 0, false
}

// FromServer turns a socks.conf server entry into an Upstream without
// credentials.
func FromServer(s config.Server) Upstream {
	return Upstream{Scheme: strings.ToLower(s.Scheme), Host: s.Host, Port: s.Port}
}

// ParseUpstream reads "host[:port]" (SOCKS4, 4.3's form, port 1080) or a
// URL "scheme://[user[:password]@]host[:port]" with a scheme of socks4,
// socks4a, socks5, socks5h or http. "socks://" is taken as socks5.
func ParseUpstream(s string) (Upstream, error) {
	if s == "" {
		return Upstream{}, errors.New("empty proxy address")
	}
	if !strings.Contains(s, "://") {
		host, port, err := splitHostPort(s, 1080)
		if err != nil {
			return Upstream{}, err
		}
		return Upstream{Scheme: SchemeSOCKS4, Host: host, Port: port}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return Upstream{}, fmt.Errorf("proxy URL: %w", err)
	}
	return FromURL(u)
}

// FromURL is ParseUpstream for a parsed URL.
func FromURL(u *url.URL) (Upstream, error) {
	scheme := strings.ToLower(u.Scheme)
	if scheme == "socks" {
		scheme = SchemeSOCKS5
	}
	def, ok := defaultPort(scheme)
	if !ok {
		return Upstream{}, fmt.Errorf("unknown proxy scheme %q (want socks4, socks4a, socks5, socks5h or http)", u.Scheme)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return Upstream{}, fmt.Errorf("proxy URL %q: a path or query makes no sense", u.Redacted())
	}
	host, port, err := splitHostPort(u.Host, def)
	if err != nil {
		return Upstream{}, err
	}
	up := Upstream{Scheme: scheme, Host: host, Port: port}
	if u.User != nil {
		up.User = u.User.Username()
		up.Password, _ = u.User.Password()
	}
	return up, nil
}

func splitHostPort(s string, def uint16) (string, uint16, error) {
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		// No port: a bare host, or a bracketed IPv6 address.
		h := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		if h == "" || strings.ContainsAny(h, "[]/") {
			return "", 0, fmt.Errorf("bad proxy address %q", s)
		}
		return h, def, nil
	}
	if host == "" {
		return "", 0, fmt.Errorf("proxy address %q has no host", s)
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("bad port in proxy address %q", s)
	}
	return host, uint16(p), nil
}
