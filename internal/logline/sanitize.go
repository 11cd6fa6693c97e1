// Package logline writes the daemon's log: the classic sockd 4.3 event lines
// ("connected -- Connect from user(ident)@host to host (service)", spec §5)
// as the message, with structured log/slog fields beside them, rendered as
// text (stderr), JSON or syslog.
//
// Client-supplied strings (USERIDs, host names, identd answers) reach the
// log, so every handler here escapes control bytes, newlines, terminal
// escape sequences and invalid UTF-8 in the message and in every string
// field: one event is always exactly one line, and a client can neither
// forge a line nor recolour an operator's terminal.
package logline

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// Sanitize returns s with every byte that could break or forge a log line
// escaped in Go's strconv.Quote style, without the surrounding quotes: \n,
// \r, \t, \\, other control bytes and invalid UTF-8 as \xHH, and non-printing
// runes (C1 controls, bidi overrides, line separators) as \uHHHH. A
// backslash is doubled so that the escaping is unambiguous. Printable text
// (including non-ASCII letters) is kept as it is.
func Sanitize(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == '\\':
				b.WriteString(`\\`)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20 || c == 0x7f:
				b.WriteString(`\x`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			default:
				b.WriteByte(c)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		case unicode.IsPrint(r):
			b.WriteString(s[i : i+size])
		case r > 0xffff:
			b.WriteString(`\U`)
			for shift := 28; shift >= 0; shift -= 4 {
				b.WriteByte(hexDigits[(r>>uint(shift))&0xf])
			}
		default:
			b.WriteString(`\u`)
			for shift := 12; shift >= 0; shift -= 4 {
				b.WriteByte(hexDigits[(r>>uint(shift))&0xf])
			}
		}
		i += size
	}
	return b.String()
}

// isClean is the fast path: plain printable ASCII without backslashes, the
// common case for every log line, needs no copy.
func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}
