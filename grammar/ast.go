package grammar

import (
	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The AST of one line of each file. The grammar is deliberately permissive
// about what a field contains (any field can be captured anywhere it could
// stand) and strict about order: it decides which field plays which part,
// and the checker then validates each part with a precise message. Nothing
// that the lexer produces makes these grammars fail; leftovers land in Rest.

// Field is one captured field, kept as its token for the position.
type Field struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Tok    lexer.Token `parser:"@(Word | Op | IdentField | UsersField | ServersField | Slashed)"`
}

// AddrNode is an "addr mask" pair or its one-field CIDR spelling. A missing
// mask is left nil for the checker to report.
type AddrNode struct {
	Pos    lexer.Position
	EndPos lexer.Position
	CIDR   *lexer.Token `parser:"  @Slashed"`
	Addr   *lexer.Token `parser:"| @Word"`
	Mask   *lexer.Token `parser:"  @(Word | Slashed)?"`
}

// PortNode is "op port"; a missing port is left nil for the checker.
type PortNode struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Op     lexer.Token  `parser:"@Op"`
	Value  *lexer.Token `parser:"@(Word | Slashed)?"`
}

// SockdLine is the rule part of a sockd.conf line:
// action [?=x] [*=users] src [dst] [op port].
type SockdLine struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Action lexer.Token  `parser:"@(Word | Op | IdentField | UsersField | ServersField | Slashed)"`
	Ident  *lexer.Token `parser:"@IdentField?"`
	Users  *lexer.Token `parser:"@UsersField?"`
	Src    *AddrNode    `parser:"@@?"`
	Dst    *AddrNode    `parser:"@@?"`
	Port   *PortNode    `parser:"@@?"`
	Rest   []*Field     `parser:"@@*"`
}

// RouteLine is a sockd.route line: if_addr dst.
type RouteLine struct {
	Pos    lexer.Position
	EndPos lexer.Position
	If     lexer.Token `parser:"@(Word | Op | IdentField | UsersField | ServersField | Slashed)"`
	Dst    *AddrNode   `parser:"@@?"`
	Rest   []*Field    `parser:"@@*"`
}

// SocksLine is the rule part of a socks.conf line:
// action [@=servers] [*=users] dst [op port]. The 4.3 spelling
// "sockd@host1,host2" arrives as the action field.
type SocksLine struct {
	Pos     lexer.Position
	EndPos  lexer.Position
	Action  lexer.Token  `parser:"@(Word | Op | IdentField | UsersField | ServersField | Slashed)"`
	Servers *lexer.Token `parser:"@ServersField?"`
	Users   *lexer.Token `parser:"@UsersField?"`
	Dst     *AddrNode    `parser:"@@?"`
	Port    *PortNode    `parser:"@@?"`
	Rest    []*Field     `parser:"@@*"`
}

var (
	sockdParser = participle.MustBuild[SockdLine](participle.Lexer(fieldLexer{tokenNames}))
	routeParser = participle.MustBuild[RouteLine](participle.Lexer(fieldLexer{tokenNames}))
	socksParser = participle.MustBuild[SocksLine](participle.Lexer(fieldLexer{tokenNames}))
)

// parseLine runs one of the grammars over a line's tokens. The grammars
// accept every token sequence that starts with a field, so an error here
// means the grammar itself is broken; it is reported on the line, never
// panicked on, and the line gives no AST (nil).
func parseLine[G any](c *checker, p *participle.Parser[G], toks []lexer.Token, eof lexer.Position) *G {
	peek, err := lexer.Upgrade(newSliceLexer(toks, eof))
	var ast *G
	if err == nil {
		ast, err = p.ParseFromLexer(peek)
	}
	if err != nil {
		c.failAt(1, 0, "", "internal grammar error: %v", err)
		return nil
	}
	return ast
}
