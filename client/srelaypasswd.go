package client

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// LoadSrelayPasswd reads a srelay.passwd: the user names and passwords
// srelay sends to its next hops. It holds passwords, so a file that any
// other user (group or others) can read or write is refused.
func LoadSrelayPasswd(path string) (*Credentials, error) {
	data, err := readSecret(path, 0o077, "password file %s is accessible to other users (mode %v): chmod go-rwx it", os.ReadFile)
	if err != nil {
		return nil, err
	}
	return ParseSrelayPasswd(path, data)
}

// ParseSrelayPasswd parses srelay.passwd lines, as srelay's getpasswd did:
//
//	# next-hop server[/port]   username   password
//	123.234.0.1                hogehoga   xyz$12#
//	10.11.22.1/1080            opopop     tutut555
//
// Fields are separated by blanks, tabs and commas, and in the user and
// password also by ';' and '#' (srelay's strtok), so the first example's
// password is "xyz$12". The server is a name or an address (IPv6 in
// brackets) with an optional port, written /port as srelay did, or :port;
// without a port it applies to every port of that server. The first line
// naming a server wins. Unlike srelay, which skipped them, lines with a
// missing field are errors.
func ParseSrelayPasswd(name string, data []byte) (*Credentials, error) {
	c := &Credentials{Source: name}
	isSep := func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == '\r' }
	for n, line := range strings.Split(string(data), "\n") {
		first := strings.FieldsFunc(line, isSep)
		if len(first) == 0 || first[0][0] == '#' || first[0][0] == ';' {
			continue
		}
		server := first[0]
		rest := strings.TrimLeftFunc(line[strings.Index(line, server)+len(server):], isSep)
		f := strings.FieldsFunc(rest, func(r rune) bool { return isSep(r) || r == ';' || r == '#' })
		if len(f) < 2 {
			return nil, fmt.Errorf("%s:%d: want `next-hop-server username password`", name, n+1)
		}
		host, port, err := splitSrelayServer(server)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: next-hop server %q: %v", name, n+1, server, err)
		}
		e := credEntry{user: f[0], password: f[1]}
		if port == 0 {
			e.key, e.anyPort = strings.ToLower(host), true
		} else {
			e.key = Upstream{Host: strings.ToLower(host), Port: port}.Addr()
		}
		c.entries = append(c.entries, e)
	}
	return c, nil
}

// splitSrelayServer reads host, host/port, host:port, [v6], [v6]/port or
// [v6]:port; port 0 means none given.
func splitSrelayServer(s string) (string, uint16, error) {
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("missing ]")
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			if port[0] != '/' && port[0] != ':' {
				return "", 0, fmt.Errorf("unexpected %q after the address", port)
			}
			port = port[1:]
		}
		if ip := net.ParseIP(host); ip == nil {
			return "", 0, fmt.Errorf("%q is not an IPv6 address", host)
		}
	case strings.ContainsRune(s, '/'):
		i := strings.IndexByte(s, '/')
		host, port = s[:i], s[i+1:]
	case strings.Count(s, ":") == 1:
		i := strings.IndexByte(s, ':')
		host, port = s[:i], s[i+1:]
	}
	if host == "" {
		return "", 0, fmt.Errorf("no host")
	}
	if port == "" {
		return host, 0, nil
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("%q is not a port (1..65535)", port)
	}
	return host, uint16(p), nil
}
