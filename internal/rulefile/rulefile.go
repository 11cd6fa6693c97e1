// Package rulefile is the three rule-file pairs of the toolchain, each a
// text file and its frozen form (sockd.conf and sockd.fc, sockd.route and
// sockd.fr, socks.conf and socks.fc), and what the make_* and dump_* tools
// do with them: compile text into a frozen file, with every diagnostic,
// and dump a frozen file as canonical text or JSON.
//
// Parsing is grammar's, the canonical text config's, the JSON form
// confjson's, the frozen container (header, checksum, staleness) frozen's,
// and the linter policy's; the commands, their flags and files are
// internal/cli's.
package rulefile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/frozen"
	"github.com/sockd/sockd/grammar"
	"github.com/sockd/sockd/internal/confjson"
	"github.com/sockd/sockd/internal/diag"
	"github.com/sockd/sockd/internal/version"
	"github.com/sockd/sockd/policy"
)

// Kind is one of the three file pairs and the tools that handle it, so
// that make_* and dump_* are written once.
type Kind struct {
	Frozen             frozen.Kind
	TextName           string // "sockd.conf"
	FrozenName         string // "sockd.fc"
	DefText, DefFrozen string // 4.3's default paths
	MakeTool           string
	DumpTool           string
	parse              func(name string, src []byte, opts grammar.Options) (any, diag.List)
	put                func(f *frozen.File, c any)
	get                func(f *frozen.File) any
	write              func(w io.Writer, c any) error
	jsonRules          func(c any) any
}

// Kinds are the three file pairs.
var Kinds = []Kind{
	kind(Kind{Frozen: frozen.KindSockdFC, TextName: "sockd.conf", FrozenName: "sockd.fc",
		DefText: "/etc/sockd.conf", DefFrozen: "/etc/sockd.fc", MakeTool: "make_sockdfc", DumpTool: "dump_sockdfc"},
		parseSockd, func(f *frozen.File) **config.SockdConf { return &f.Sockd }, config.WriteSockd, confjson.Sockd),
	kind(Kind{Frozen: frozen.KindSockdFR, TextName: "sockd.route", FrozenName: "sockd.fr",
		DefText: "/etc/sockd.route", DefFrozen: "/etc/sockd.fr", MakeTool: "make_sockdfr", DumpTool: "dump_sockdfr"},
		grammar.ParseRoute, func(f *frozen.File) **config.RouteConf { return &f.Route }, config.WriteRoute, confjson.Routes),
	kind(Kind{Frozen: frozen.KindSocksFC, TextName: "socks.conf", FrozenName: "socks.fc",
		DefText: "/etc/socks.conf", DefFrozen: "/etc/socks.fc", MakeTool: "make_socksfc", DumpTool: "dump_socksfc"},
		grammar.ParseSocks, func(f *frozen.File) **config.SocksConf { return &f.Socks }, config.WriteSocks, confjson.Socks),
}

// kind completes k with the functions of its rules' type C: how the text
// is parsed, where the frozen file holds the rules, and how they are
// written as canonical text and as JSON.
func kind[C any](k Kind, parse func(string, []byte, grammar.Options) (C, diag.List), field func(*frozen.File) *C,
	write func(io.Writer, C) error, toJSON func(C) any) Kind {
	k.parse = func(n string, s []byte, o grammar.Options) (any, diag.List) { return parse(n, s, o) }
	k.put = func(f *frozen.File, c any) { *field(f) = c.(C) }
	k.get = func(f *frozen.File) any { return *field(f) }
	k.write = func(w io.Writer, c any) error { return write(w, c.(C)) }
	k.jsonRules = func(c any) any { return toJSON(c.(C)) }
	return k
}

// parseSockd parses a sockd.conf and adds the linter's findings: every
// make_sockdfc build reports them as warnings.
func parseSockd(name string, src []byte, opts grammar.Options) (*config.SockdConf, diag.List) {
	c, l := grammar.ParseSockd(name, src, opts)
	if c != nil {
		l = append(l, policy.Lint(c, policy.LintOptions{})...)
		l.Sort()
	}
	return c, l
}

// ByTool is the Kind that the tool called name (make_* or dump_*) handles.
func ByTool(name string) Kind {
	for _, k := range Kinds {
		if k.MakeTool == name || k.DumpTool == name {
			return k
		}
	}
	panic("no file kind for " + name)
}

// Compile parses src, named name in the diagnostics, and encodes it as a
// frozen file. The diagnostics are every error and warning of the file;
// with any error, data is nil.
func (k Kind) Compile(name string, src []byte) (data []byte, diags diag.List, err error) {
	conf, diags := k.parse(name, src, grammar.Options{})
	if diags.HasErrors() {
		return nil, diags, nil
	}
	f := &frozen.File{Kind: k.Frozen, Meta: frozen.Meta{Source: name, SourceSHA256: frozen.HashSource(src), Compiler: version.Compiler}}
	k.put(f, conf)
	data, err = frozen.Encode(f)
	return data, diags, err
}

// Dump writes the rules of f, read from name: as canonical text after a
// header comment naming the source, its SHA-256 and the format version,
// or as indented JSON.
func (k Kind) Dump(w io.Writer, name string, f *frozen.File, asJSON bool) error {
	conf := k.get(f)
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"kind": f.Kind.String(), "format_version": f.Version,
			"source": f.Meta.Source, "source_sha256": f.Meta.SourceSHA256, "compiler": f.Meta.Compiler,
			"rules": k.jsonRules(conf),
		})
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s: %s, format version %d, written by %s\n", name, f.Kind, f.Version, f.Meta.Compiler)
	fmt.Fprintf(&b, "# compiled from %s (sha256 %s)\n", f.Meta.Source, f.Meta.SourceSHA256)
	if err := k.write(&b, conf); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
