package client

import (
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/sockd/sockd/internal/boundedfile"
)

// Credentials are the user names and passwords for next hops, kept in a
// file of their own (as srelay's password file) so that socks.conf, which
// every user may read, never holds a secret, and so that a daemon never
// forwards its own clients' passwords upstream.
//
// One entry per line, '#' starts a comment:
//
//	# upstream                 user    password
//	socks5://127.0.0.1:1081    alice   s3cret
//	127.0.0.1:1080             bob              # SOCKS4: USERID only
//	*                          carol   pw       # every other upstream
//
// The upstream is scheme://host:port (that scheme only), host:port (any
// scheme) or *; the first entry that names the upstream wins. The password
// is the rest of the line after the user, blanks inside it included.
type Credentials struct {
	Source  string
	entries []credEntry
}

type credEntry struct {
	key, user, password string
	anyPort             bool // key is a host alone (srelay.passwd without a port)
}

// LoadCredentials reads a credentials file. A file that other users can
// read or write is refused: it holds passwords.
func LoadCredentials(path string) (*Credentials, error) {
	data, err := readSecret(path, 0o007, "credentials file %s is accessible to every user (mode %v): chmod o-rwx it", boundedfile.ReadList)
	if err != nil {
		return nil, err
	}
	return ParseCredentials(path, data)
}

// readSecret reads a file of passwords with read, after refusing it if its
// permission bits share any with open; refusal is the error's format, given
// the path and the file's mode. The two password files differ in who may not
// read them and in how they are read, not in the check.
func readSecret(path string, open fs.FileMode, refusal string, read func(string) ([]byte, error)) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&open != 0 {
		return nil, fmt.Errorf(refusal, path, fi.Mode().Perm())
	}
	return read(path)
}

// ParseCredentials parses the text of a credentials file.
func ParseCredentials(name string, data []byte) (*Credentials, error) {
	c := &Credentials{Source: name}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		if i := strings.Index(line, "#"); i >= 0 && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("%s:%d: want `upstream user [password]`", name, n+1)
		}
		e := credEntry{key: strings.ToLower(f[0]), user: f[1]}
		if len(f) > 2 {
			// The password is everything after the user, as written.
			rest := strings.TrimSpace(line)
			rest = strings.TrimSpace(rest[len(f[0]):])
			e.password = strings.TrimSpace(rest[len(f[1]):])
		}
		if e.key != "*" {
			if strings.Contains(e.key, "://") {
				u, err := ParseUpstream(f[0])
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %v", name, n+1, err)
				}
				e.key = u.String()
			} else {
				h, p, err := splitHostPort(f[0], 0)
				if err != nil || p == 0 {
					return nil, fmt.Errorf("%s:%d: upstream %q: want scheme://host:port, host:port or *", name, n+1, f[0])
				}
				e.key = Upstream{Host: strings.ToLower(h), Port: p}.Addr()
			}
		}
		c.entries = append(c.entries, e)
	}
	return c, nil
}

// Len is the number of entries.
func (c *Credentials) Len() int {
	if c == nil {
		return 0
	}
	return len(c.entries)
}

// Apply returns u with the credentials the file gives it; u is returned
// unchanged when no entry names it.
func (c *Credentials) Apply(u Upstream) Upstream {
	if c == nil {
		return u
	}
	lower := Upstream{Scheme: u.Scheme, Host: strings.ToLower(u.Host), Port: u.Port}
	for _, e := range c.entries {
		if e.key == "*" || e.key == lower.String() || e.key == lower.Addr() || e.anyPort && e.key == lower.Host {
			u.User, u.Password = e.user, e.password
			return u
		}
	}
	return u
}
