// Package hostsaccess reads /etc/hosts.allow and /etc/hosts.deny in the
// hosts_access(5) language of tcp_wrappers (libwrap), as Debian's libwrap
// 7.6.q matches it, and decides whether a daemon serves a client:
//
//   - the first rule of hosts.allow whose daemon list and client list
//     match grants access, else the first matching rule of hosts.deny
//     denies it, else access is granted; a missing file matches nothing;
//   - a rule is `daemon_list : client_list [: option : option ...]`;
//     lists are separated by blanks and commas and may hold `EXCEPT`;
//     a line ending in a backslash continues on the next line; a line
//     starting with '#' is a comment; reaching a last line without a
//     newline is an error (libwrap's ERR): hosts.allow then grants nothing
//     more and hosts.deny denies;
//   - patterns: ALL, KNOWN, UNKNOWN, LOCAL, PARANOID, `.suffix` (names),
//     `prefix.` (addresses), `net/mask` and `net/len`, `[v6]` and
//     `[v6net]/len`, `*` and `?` wildcards, `/file` (patterns read from a
//     file), `user@host` in client lists, `daemon@host` in daemon lists;
//     `@netgroup` never matches (no NIS);
//   - options (hosts_options(5)): `allow` and `deny` decide whatever the
//     file; other options are accepted and not run (spawn, twist, ... are
//     refused at load with a warning); an unknown option denies, as
//     libwrap's error path does.
//
// The daemon never looks up the client's host name or identd user at
// accept (an event loop must not wait on DNS, and a client could make it):
// both are "unknown", exactly as `tcpdmatch daemon ADDRESS` evaluates an
// address. Patterns that can only match names are reported when the files
// are loaded. The differential test checks every generated case against
// Debian's tcpdmatch.
package hostsaccess

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// Default file names.
const (
	DefaultAllow = "/etc/hosts.allow"
	DefaultDeny  = "/etc/hosts.deny"
)

const unknown = "unknown"

// Rule is one rule of a file.
type Rule struct {
	File    string
	Line    int    // the first physical line of the rule
	Text    string // the rule as read, continuation lines joined
	daemons string
	clients string
	options string // "" when none
	hasOpts bool
}

// Table is one parsed file.
type Table struct {
	Path  string
	Rules []Rule
	// Warnings say what libwrap would have logged while reading the file
	// (a rule without ':', a last line without newline, ...), and which
	// patterns can only match host names.
	Warnings []string
	// readFile reads /file patterns.
	readFile func(string) ([]byte, error)
	// brokenEnd: the file's last line has no newline (at brokenLine).
	brokenEnd  bool
	brokenLine int
}

// Parse reads the text of a hosts.allow or hosts.deny.
func Parse(path string, data []byte) *Table {
	t := &Table{Path: path, readFile: os.ReadFile}
	lineNo := 0
	for len(data) > 0 {
		// xgets: join backslash-newline continuations into one rule.
		var buf []byte
		start := lineNo + 1
		complete := false // the line ended with a newline
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			var line []byte
			if i < 0 {
				line, data = data, nil
			} else {
				line, data = data[:i], data[i+1:]
			}
			lineNo++
			if i >= 0 && len(line) > 0 && line[len(line)-1] == '\\' {
				buf = append(buf, line[:len(line)-1]...)
				continue
			}
			buf = append(buf, line...)
			complete = i >= 0
			break
		}
		text := string(buf)
		if !complete {
			// libwrap's "missing newline or line too long": the table
			// then answers neither yes nor no (ERR), which in hosts.deny
			// denies and in hosts.allow grants nothing.
			t.warn(start, "missing newline at the end of the file: libwrap treats reaching this line as an error (in hosts.deny: denied)")
			t.brokenEnd, t.brokenLine = true, start
			continue
		}
		if len(text) > 0 && text[0] == '#' || strings.Trim(text, " \t\r\n") == "" {
			continue
		}
		r := Rule{File: path, Line: start, Text: text}
		daemons, rest, ok := splitAt(text, ':')
		if !ok {
			t.warn(start, "missing \":\" separator: libwrap ignores this rule")
			continue
		}
		clients, opts, hasOpts := splitAt(rest, ':')
		r.daemons, r.clients, r.options, r.hasOpts = daemons, clients, opts, hasOpts
		t.Rules = append(t.Rules, r)
		t.lint(&r)
	}
	return t
}

func (t *Table) warn(line int, format string, args ...any) {
	t.Warnings = append(t.Warnings, fmt.Sprintf("%s:%d: ", t.Path, line)+fmt.Sprintf(format, args...))
}

// lint reports what libwrap accepts but this daemon cannot honour.
func (t *Table) lint(r *Rule) {
	for _, tok := range tokens(r.clients) {
		host := tok
		if i := strings.IndexByte(tok[1:], '@'); i >= 0 {
			host = tok[i+2:]
		}
		if namePattern(host) {
			t.warn(r.Line, "%q matches host names, which are not looked up at accept (every client's name is \"unknown\")", host)
		}
	}
	if r.hasOpts {
		for _, o := range splitOptions(r.options) {
			name, _, _ := strings.Cut(strings.TrimSpace(o), " ")
			switch strings.ToLower(name) {
			case "allow", "deny", "":
			default:
				t.warn(r.Line, "option %q is not run by this daemon (only allow and deny decide)", name)
			}
		}
	}
}

// namePattern: a client pattern that can only match a host name.
func namePattern(tok string) bool {
	switch strings.ToUpper(tok) {
	case "ALL", "UNKNOWN", "EXCEPT", "KNOWN":
		return false
	case "LOCAL", "PARANOID":
		return true
	}
	if tok == "" || tok[0] == '/' || tok[0] == '[' || tok[0] == '@' || strings.ContainsRune(tok, '/') {
		return false
	}
	return notInaddr(tok)
}

// splitAt cuts s at the first sep outside brackets (libwrap's split_at
// with the IPv6 patch).
func splitAt(s string, sep byte) (string, string, bool) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		default:
			if depth == 0 && s[i] == sep {
				return s[:i], s[i+1:], true
			}
		}
	}
	return s, "", false
}

const listSep = ", \t\r\n"

func tokens(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(listSep, r) })
}

// splitOptions cuts the option part at ':' (a "\:" stays in the option).
func splitOptions(s string) []string {
	var out []string
	cur := ""
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] == ':' {
			cur += ":"
			i++
			continue
		}
		if s[i] == ':' {
			out = append(out, cur)
			cur = ""
			continue
		}
		cur += string(s[i])
	}
	return append(out, cur)
}
