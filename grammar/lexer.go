package grammar

import (
	"io"
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
)

// Token types of the field lexer. Every token is one blank-separated field;
// the type only tells the grammar what the field looks like, so that the
// grammar can place it (an op keyword ends the address pairs, a field with a
// slash is a whole CIDR pair). Whether the field's content is valid is the
// checker's business.
const (
	tokWord         lexer.TokenType = -(iota + 2) // anything else
	tokOp                                         // eq neq lt gt le ge, any case
	tokIdentField                                 // ?=...
	tokUsersField                                 // *=...
	tokServersField                               // @=...
	tokSlashed                                    // addr/len (a slash, not first)
)

var tokenNames = map[string]lexer.TokenType{
	"EOF":          lexer.EOF,
	"Word":         tokWord,
	"Op":           tokOp,
	"IdentField":   tokIdentField,
	"UsersField":   tokUsersField,
	"ServersField": tokServersField,
	"Slashed":      tokSlashed,
}

var opByName = map[string]string{"eq": "eq", "neq": "neq", "lt": "lt", "gt": "gt", "le": "le", "ge": "ge"}

// isOp reports whether a field is a port comparison keyword, in any case.
func isOp(field string) bool {
	if len(field) < 2 || len(field) > 3 {
		return false
	}
	_, ok := opByName[strings.ToLower(field)]
	return ok
}

func classify(field string) lexer.TokenType {
	switch {
	case strings.HasPrefix(field, "?="):
		return tokIdentField
	case strings.HasPrefix(field, "*="):
		return tokUsersField
	case strings.HasPrefix(field, "@="):
		return tokServersField
	case isOp(field):
		return tokOp
	case strings.IndexByte(field, '/') > 0:
		return tokSlashed
	}
	return tokWord
}

func isBlank(b byte) bool { return b == ' ' || b == '\t' }

// fieldTokens cuts text into blank-separated fields. line and col (1-based)
// and offset locate text[0] in the file.
func fieldTokens(filename string, line, col, offset int, text string) []lexer.Token {
	var toks []lexer.Token
	for i := 0; i < len(text); {
		if isBlank(text[i]) {
			i++
			continue
		}
		start := i
		for i < len(text) && !isBlank(text[i]) {
			i++
		}
		field := text[start:i]
		toks = append(toks, lexer.Token{
			Type:  classify(field),
			Value: field,
			Pos:   lexer.Position{Filename: filename, Offset: offset + start, Line: line, Column: col + start},
		})
	}
	return toks
}

// fieldLexer is the participle lexer.Definition. The parsers feed it one
// line at a time through sliceLexer; Lex exists so that the grammar can also
// be driven through participle's own entry points (it treats its input as
// a single line). It holds the symbol table itself so that the package's
// parsers, built during initialisation, depend on it explicitly.
type fieldLexer struct{ symbols map[string]lexer.TokenType }

func (l fieldLexer) Symbols() map[string]lexer.TokenType { return l.symbols }

func (fieldLexer) Lex(filename string, r io.Reader) (lexer.Lexer, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	text := strings.ReplaceAll(string(b), "\n", " ")
	return newSliceLexer(fieldTokens(filename, 1, 1, 0, text), lexer.Position{Filename: filename, Line: 1, Column: len(text) + 1, Offset: len(text)}), nil
}

// sliceLexer hands participle a token list that was already cut.
type sliceLexer struct {
	toks []lexer.Token
	eof  lexer.Position
	next int
}

func newSliceLexer(toks []lexer.Token, eof lexer.Position) *sliceLexer {
	return &sliceLexer{toks: toks, eof: eof}
}

func (s *sliceLexer) Next() (lexer.Token, error) {
	if s.next >= len(s.toks) {
		return lexer.EOFToken(s.eof), nil
	}
	s.next++
	return s.toks[s.next-1], nil
}

// sourceLine is one physical line of a file, without its line ending.
type sourceLine struct {
	num    int    // 1-based
	offset int    // byte offset of text[0] in the file
	text   string // without "\n" or a trailing "\r"
}

// splitLines cuts a file into lines. A trailing "\r" is dropped so that a
// file edited on Windows reads the same; it is not part of Text.
func splitLines(src []byte) []sourceLine {
	s := string(src)
	lines := make([]sourceLine, 0, strings.Count(s, "\n")+1)
	offset := 0
	for num := 1; offset < len(s); num++ {
		end := strings.IndexByte(s[offset:], '\n')
		next := len(s)
		if end < 0 {
			end = len(s)
		} else {
			end += offset
			next = end + 1
		}
		text := strings.TrimSuffix(s[offset:end], "\r")
		lines = append(lines, sourceLine{num: num, offset: offset, text: text})
		offset = next
	}
	return lines
}

// cutLine is a line split into its rule part and its shell command.
type cutLine struct {
	rule       string // the part the grammar parses (before any ':' or '#')
	hasCommand bool
	colon      int    // byte index of the ':' in the line, when hasCommand
	command    string // everything after the ':', untrimmed
}

// splitCommand finds where the rule part of a sockd.conf or socks.conf line
// ends. 4.3 scanned left to right and stopped at whichever of ':' (the shell
// command follows) or '#' (a comment follows) came first. Colons are also
// part of IPv6 addresses and of server lists with ports, which 4.3 had
// neither of, so a field that keepsColons approves is stepped over whole
// (a '#' inside it still starts a comment).
func splitCommand(line string, keepsColons func(field string, first bool) bool) cutLine {
	first := true
	for i := 0; i < len(line); {
		if isBlank(line[i]) {
			i++
			continue
		}
		start := i
		for i < len(line) && !isBlank(line[i]) {
			i++
		}
		field := line[start:i]
		stops := ":#"
		if keepsColons(field, first) {
			stops = "#"
		}
		first = false
		if j := strings.IndexAny(field, stops); j >= 0 {
			at := start + j
			if line[at] == '#' {
				return cutLine{rule: line[:at]}
			}
			return cutLine{rule: line[:at], hasCommand: true, colon: at, command: line[at+1:]}
		}
	}
	return cutLine{rule: line}
}

// looksLikeIPv6Field reports whether a field is written like an IPv6 address
// or prefix (hex digits, at least two colons, maybe dots, a %zone or a
// /length), so that its colons do not start a shell command. A field that
// merely looks like one is still checked as an address later, which gives
// a clear error instead of a surprising command.
func looksLikeIPv6Field(field string) bool {
	host := field
	if j := strings.IndexByte(host, '/'); j >= 0 {
		host = host[:j]
	}
	if k := strings.IndexByte(host, '%'); k >= 0 {
		host = host[:k]
	}
	if strings.Count(host, ":") < 2 {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(isHex(c) || c == ':' || c == '.') {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
