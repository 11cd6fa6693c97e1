// Package auth is the daemon's password file for SOCKS5 username/password
// authentication (RFC 1929): one "user:bcrypt-hash" per line, created and
// updated by "sockd passwd". Passwords are stored only as bcrypt hashes and
// checked in constant time; checking an unknown user costs the same bcrypt
// comparison as the most expensive known one, so response times do not
// reveal which users exist.
package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sockd/sockd/internal/atomicfile"
	"github.com/sockd/sockd/internal/boundedfile"
	"golang.org/x/crypto/bcrypt"
)

// DefaultCost is the bcrypt cost "sockd passwd" uses.
const DefaultCost = bcrypt.DefaultCost

// MaxPassword is the longest password bcrypt can tell apart: it ignores
// bytes past 72, so longer passwords are refused rather than silently
// truncated (RFC 1929 allows 255).
const MaxPassword = 72

// MaxUser is RFC 1929's limit on a user name.
const MaxUser = 255

// Passwords is an immutable set of users and their password hashes, safe
// for concurrent use.
type Passwords struct {
	// Source is the file the set was read from.
	Source string
	users  map[string][]byte
	// dummy is compared against when the user is unknown; it has the
	// highest cost of the file's hashes, so that an unknown user takes as
	// long as the most expensive known one and timing cannot tell them
	// apart.
	dummy []byte
}

// ValidUser reports why name cannot be a user name, or nil. A name is 1..255
// bytes (RFC 1929) without ':' (the file's separator), blanks, '#' or control
// bytes (which would break the file's lines).
func ValidUser(name string) error {
	if name == "" || len(name) > MaxUser {
		return fmt.Errorf("user name must be 1 to %d bytes long", MaxUser)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c == 0x7f || c == ':' || c == '#' {
			return fmt.Errorf("user name %q holds a blank, ':', '#' or a control byte", name)
		}
	}
	return nil
}

// Load reads a password file.
func Load(path string) (*Passwords, error) {
	data, err := boundedfile.ReadList(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse reads the text of a password file named name. Blank lines and lines
// starting with '#' are ignored; every other line is "user:hash" with a
// bcrypt hash. Errors name the file and line.
func Parse(name string, data []byte) (*Passwords, error) {
	p := &Passwords{Source: name, users: make(map[string][]byte)}
	cost := 0 // the highest of the file's costs
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want user:hash", name, line)
		}
		if err := ValidUser(user); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		c, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: user %s: not a bcrypt hash: %v", name, line, user, err)
		}
		if _, dup := p.users[user]; dup {
			return nil, fmt.Errorf("%s:%d: user %s appears twice", name, line, user)
		}
		cost = max(cost, c)
		p.users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if cost == 0 {
		cost = DefaultCost
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("sockd-dummy-password"), cost)
	if err != nil {
		return nil, err
	}
	p.dummy = dummy
	return p, nil
}

// Len is the number of users.
func (p *Passwords) Len() int { return len(p.users) }

// Has reports whether user has an entry.
func (p *Passwords) Has(user string) bool { _, ok := p.users[user]; return ok }

// Verify reports whether password is user's password. It always runs one
// bcrypt comparison, against a dummy hash when the user is unknown or the
// password too long, so its duration does not say which.
func (p *Passwords) Verify(user, password string) bool {
	hash, ok := p.users[user]
	if !ok || len(password) > MaxPassword {
		_ = bcrypt.CompareHashAndPassword(p.dummy, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

// SetPassword creates the file at path if needed and gives user the
// password, replacing an existing entry in place and keeping every other
// line (comments included). The file is rewritten atomically (temporary
// file, fsync, rename) with mode 0600, so the daemon never reads half a
// file and other users cannot read the hashes.
func SetPassword(path, user, password string, cost int) error {
	if err := ValidUser(user); err != nil {
		return err
	}
	if password == "" {
		return errors.New("empty password")
	}
	if len(password) > MaxPassword {
		return fmt.Errorf("password longer than %d bytes (bcrypt ignores the rest)", MaxPassword)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return err
	}
	old, err := boundedfile.ReadList(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(old) > 0 {
		if _, err := Parse(path, old); err != nil {
			return fmt.Errorf("refusing to rewrite a damaged file: %w", err)
		}
	}
	entry := user + ":" + string(hash)
	var out bytes.Buffer
	replaced := false
	for _, line := range strings.SplitAfter(string(old), "\n") {
		if line == "" {
			continue
		}
		if u, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && u == user && !replaced {
			out.WriteString(entry + "\n")
			replaced = true
			continue
		}
		out.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			out.WriteByte('\n')
		}
	}
	if !replaced {
		out.WriteString(entry + "\n")
	}
	return atomicfile.WriteFile(path, out.Bytes(), 0o600)
}
