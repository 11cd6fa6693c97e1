package grammar

import (
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/diag"
)

// sockdLineLimit is sockd.conf(5)'s maximum line length.
const sockdLineLimit = 1023

const (
	noIdentdPrefix = "#NO_IDENTD:"
	badIDPrefix    = "#BAD_ID:"
)

// ParseSockd compiles a sockd.conf. name is the file name used in
// diagnostics and stored in Source. When the list has an error the conf is
// nil; warnings alone never make it nil.
func ParseSockd(name string, src []byte, opts Options) (*config.SockdConf, diag.List) {
	c := newChecker(name, opts)
	conf := &config.SockdConf{Source: name}
	c.eachLine(src, sockdLineLimit, func(l sourceLine) {
		if c.sockdSpecial(conf) {
			return
		}
		cut, toks := c.ruleTokens(l, func(field string, _ bool) bool { return looksLikeIPv6Field(field) },
			"a sockd.conf rule begins with `permit` or `deny`")
		if len(toks) == 0 {
			return
		}
		ast := parseLine(c, sockdParser, toks, eofAfter(l, cut.rule))
		if ast == nil {
			return
		}
		if r, ok := c.sockdRule(ast, toks, cut); ok {
			r.Text = l.text
			conf.Rules = append(conf.Rules, r)
		}
	})
	return compiled(c, conf)
}

// ruleTokens cuts a sockd.conf or socks.conf line at the ':' before its
// shell command (keepsColons names the fields whose colons do not cut) and
// cuts the rule part into tokens. A line with no rule gives no tokens; if
// it has a command, that is reported, with begins, how a rule begins, as
// the hint.
func (c *checker) ruleTokens(l sourceLine, keepsColons func(field string, first bool) bool, begins string) (cutLine, []lexer.Token) {
	cut := splitCommand(l.text, keepsColons)
	c.noteCommandColon(cut)
	toks := fieldTokens(c.file, l.num, 1, l.offset, cut.rule)
	if len(toks) == 0 && cut.hasCommand {
		c.failAt(cut.colon+1, cut.colon+2, begins, "a shell command needs a rule before its `:`")
	}
	return cut, toks
}

// eofAfter is the position just past a line's rule part.
func eofAfter(l sourceLine, rule string) lexer.Position {
	return lexer.Position{Line: l.num, Column: len(rule) + 1, Offset: l.offset + len(rule)}
}

// sockdSpecial handles #NO_IDENTD: and #BAD_ID: lines. 4.3 runs the first
// line that starts (in column 1) with the marker, so later ones are dead.
func (c *checker) sockdSpecial(conf *config.SockdConf) bool {
	text := c.line.text
	for _, sp := range []struct {
		prefix string
		slot   **config.Special
	}{{noIdentdPrefix, &conf.NoIdentd}, {badIDPrefix, &conf.BadID}} {
		if !strings.HasPrefix(text, sp.prefix) {
			if strings.HasPrefix(strings.TrimLeft(text, " \t"), sp.prefix) {
				col := len(text) - len(strings.TrimLeft(text, " \t")) + 1
				c.warnAt(col, col+len(sp.prefix), "remove the blanks before it",
					"%s must start in column 1; this line is only a comment", quote(sp.prefix))
				return true
			}
			continue
		}
		cmd := strings.TrimSpace(text[len(sp.prefix):])
		if *sp.slot != nil {
			first := *sp.slot
			c.report(diag.Warning, 1, len(sp.prefix)+1, "4.3 runs only the first one; merge the commands or delete this line",
				"a second "+quote(sp.prefix)+" line is ignored")
			c.diags[len(c.diags)-1].Notes = []diag.Note{{
				File: c.file, Line: first.Pos.Line, Col: 1,
				Message: "the " + quote(sp.prefix) + " line in effect is here", Source: first.Text,
			}}
			return true
		}
		if cmd == "" {
			c.warnAt(1, len(sp.prefix)+1, "write the command after it, or delete the line",
				"empty shell command after %s", quote(sp.prefix))
		}
		*sp.slot = &config.Special{Pos: config.Pos{Line: c.line.num, Col: 1}, Command: cmd, Text: text}
		return true
	}
	return false
}

// ruleEnd checks what ends a sockd.conf or socks.conf rule (file): the
// port test, if any, no fields left over, and the shell command after the
// ':', if any.
func (c *checker) ruleEnd(port *PortNode, rest []*Field, cut cutLine, file string) (config.PortTest, string, bool) {
	var p config.PortTest
	if port != nil {
		var ok bool
		if p, ok = c.checkPort(port); !ok {
			return p, "", false
		}
	}
	if len(rest) > 0 {
		return p, "", c.checkLeftover(rest[0].Tok, file)
	}
	return p, c.checkCommand(cut), !c.failed
}

func (c *checker) sockdRule(ast *SockdLine, toks []lexer.Token, cut cutLine) (config.Rule, bool) {
	r := config.Rule{Pos: config.Pos{Line: c.line.num, Col: ast.Action.Pos.Column}}
	switch strings.ToLower(ast.Action.Value) {
	case "permit":
		r.Action = config.Permit
	case "deny":
		r.Action = config.Deny
	default:
		return r, c.failTok(ast.Action,
			didYouMean(ast.Action.Value, []string{"permit", "deny"}, "a sockd.conf rule begins with `permit` or `deny`"),
			"unknown action %s", quote(ast.Action.Value))
	}
	var ok bool
	if ast.Ident != nil {
		if r.Ident, ok = c.checkIdent(*ast.Ident); !ok {
			return r, false
		}
	}
	if r.Users, ok = c.checkUsers(ast.Users); !ok {
		return r, false
	}
	if ast.Src == nil {
		return r, c.missingAddr(ast.Port, ast.Rest, toks, "source", "sockd.conf",
			"for example `permit 10.0.0.0 255.0.0.0`, or `10.0.0.0/8`")
	}
	if r.Src, ok = c.checkAddr(ast.Src, "source", nil); !ok {
		return r, false
	}
	if ast.Dst != nil {
		if r.Dst, ok = c.checkAddr(ast.Dst, "destination", ast.Src.CIDR); !ok {
			return r, false
		}
	}
	r.Port, r.Command, ok = c.ruleEnd(ast.Port, ast.Rest, cut, "sockd.conf")
	return r, ok
}
