// Package load reads the configuration files the way every tool and the
// daemon must: a text file or a frozen file, recognised by its content, with
// the 4.3 lookup order for defaults, and a loud warning when a frozen file is
// older than the text file beside it (4.3 silently used stale frozen files).
package load

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/frozen"
	"github.com/sockd/sockd/grammar"
	"github.com/sockd/sockd/internal/diag"
)

// The 4.3 default paths: the frozen file is looked for first.
const (
	SockdFC    = "/etc/sockd.fc"
	SockdConf  = "/etc/sockd.conf"
	SockdFR    = "/etc/sockd.fr"
	SockdRoute = "/etc/sockd.route"
	SocksFC    = "/etc/socks.fc"
	SocksConf  = "/etc/socks.conf"
)

// EmbeddedName is the source name of the built-in default rules.
const EmbeddedName = "<embedded default>"

// defaultRules permit loopback clients only: what the daemon runs with when
// no configuration exists, so that a fresh install is never an open proxy.
//
//go:embed default.conf
var defaultRules []byte

// DefaultRules returns the text of the embedded default sockd.conf.
func DefaultRules() []byte { return append([]byte(nil), defaultRules...) }

// Origin says where a configuration came from.
type Origin struct {
	Path     string      // the file read; EmbeddedName for the built-in default
	Embedded bool        // the built-in default was used
	Frozen   bool        // the file was a frozen file
	Meta     frozen.Meta // the frozen file's record of its source (Frozen only)
	// Checksum identifies the content read, as hex SHA-256: of the whole
	// file for a text file (and the embedded default); for a frozen file,
	// the checksum its header records and loading verified, which is the
	// SHA-256 of the file without that 32-byte field (see package frozen).
	Checksum string
	Stale    frozen.Staleness // Frozen only: the text file beside it and whether it changed since
	Warnings diag.List        // warnings from compiling a text file
}

// StaleWarning returns the sentence every tool prints about a stale frozen
// file, or "" when the file is fresh.
func (o Origin) StaleWarning() string {
	if !o.Frozen || !o.Stale.Stale {
		return ""
	}
	return fmt.Sprintf("warning: %s is stale: %s has changed since it was compiled (rebuild it with make_*)", o.Path, o.Stale.TextPath)
}

// Options are passed to the grammar when a text file is compiled.
type Options = grammar.Options

// Sockd loads a sockd.conf or sockd.fc.
func Sockd(path string, opts Options) (*config.SockdConf, Origin, error) {
	return loadFile(path, frozen.KindSockdFC, opts, grammar.ParseSockd, func(f *frozen.File) *config.SockdConf { return f.Sockd })
}

// Route loads a sockd.route or sockd.fr.
func Route(path string, opts Options) (*config.RouteConf, Origin, error) {
	return loadFile(path, frozen.KindSockdFR, opts, grammar.ParseRoute, func(f *frozen.File) *config.RouteConf { return f.Route })
}

// Socks loads a socks.conf or socks.fc.
func Socks(path string, opts Options) (*config.SocksConf, Origin, error) {
	return loadFile(path, frozen.KindSocksFC, opts, grammar.ParseSocks, func(f *frozen.File) *config.SocksConf { return f.Socks })
}

// Srelay loads a srelay.conf into the client routing model (text only:
// srelay.conf has no frozen form).
func Srelay(path string, opts Options) (*config.SocksConf, Origin, error) {
	o := Origin{Path: path}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, o, noFile(err)
	}
	return compileText(o, src, opts, grammar.ParseSrelay)
}

// Client loads the client routing file of rsockd mode: a srelay.conf when
// srelay is set, else a socks.conf or socks.fc.
func Client(path string, srelay bool, opts Options) (*config.SocksConf, Origin, error) {
	if srelay {
		return Srelay(path, opts)
	}
	return Socks(path, opts)
}

// DefaultSockd follows 4.3's lookup, /etc/sockd.fc then /etc/sockd.conf,
// and falls back to the embedded loopback-only rules when neither exists.
func DefaultSockd(opts Options) (*config.SockdConf, Origin, error) {
	if p, ok := FindFirst(SockdFC, SockdConf); ok {
		return Sockd(p, opts)
	}
	c, l := grammar.ParseSockd(EmbeddedName, defaultRules, opts)
	if l.HasErrors() { // the embedded file is tested; this is a build mistake
		return nil, Origin{}, l.Err()
	}
	return c, Origin{Path: EmbeddedName, Embedded: true, Checksum: sum(defaultRules)}, nil
}

// SockdText compiles rules given as text (a personality's built-in rules).
func SockdText(name string, src []byte, opts Options) (*config.SockdConf, Origin, error) {
	c, l := grammar.ParseSockd(name, src, opts)
	if l.HasErrors() {
		return nil, Origin{}, l.Err()
	}
	return c, Origin{Path: name, Checksum: sum(src), Warnings: l.Only(diag.Warning)}, nil
}

// FindFirst returns the first of paths that exists.
func FindFirst(paths ...string) (string, bool) {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

// ErrNoFile is returned (wrapped) when no file of a default lookup exists.
var ErrNoFile = errors.New("no configuration file")

// noFile wraps ErrNoFile around the error of reading a file that does not
// exist.
func noFile(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %v", ErrNoFile, err)
	}
	return err
}

// loadFile loads a file of one kind: decoded when it is frozen, its
// payload taken by payload; compiled with parse when it is text.
func loadFile[C any](path string, kind frozen.Kind, opts Options, parse func(string, []byte, Options) (*C, diag.List), payload func(*frozen.File) *C) (*C, Origin, error) {
	o := Origin{Path: path}
	// The file is read into a string: a frozen file's decoded strings are
	// slices of it, so a large one is not copied again.
	data, err := frozen.ReadFileString(path)
	if err != nil {
		return nil, o, noFile(err)
	}
	if frozen.IsFrozen([]byte(data[:min(len(data), len(frozen.KindSockdFC.Magic()))])) {
		// Whether the text beside the file changed needs only the
		// metadata: for a large file its hash runs beside the decoding.
		var stale chan frozen.Staleness
		meta, peeked := frozen.PeekMeta(data)
		if peeked {
			stale = make(chan frozen.Staleness, 1)
			go func() { stale <- frozen.CheckStale(path, &frozen.File{Meta: meta}) }()
		}
		f, err := frozen.DecodeKindString(data, kind)
		var st frozen.Staleness
		if peeked {
			st = <-stale
		}
		if err != nil {
			return nil, o, fmt.Errorf("%s: %w", path, err)
		}
		if !peeked || f.Meta != meta { // cannot happen: the same bytes, now verified
			st = frozen.CheckStale(path, f)
		}
		o.Stale = st
		// The header's checksum identifies the file as well as a hash of
		// all its bytes would, and Decode has just verified it: hashing
		// the file a second time would only cost a large site's start.
		o.Checksum = hex.EncodeToString(f.Checksum[:])
		o.Frozen, o.Meta = true, f.Meta
		return payload(f), o, nil
	}
	return compileText(o, []byte(data), opts, parse)
}

// compileText compiles src, the text of the file o names, with parse.
func compileText[C any](o Origin, src []byte, opts Options, parse func(string, []byte, Options) (*C, diag.List)) (*C, Origin, error) {
	o.Checksum = sum(src)
	c, l := parse(o.Path, src, opts)
	o.Warnings = l.Only(diag.Warning)
	if l.HasErrors() {
		return nil, o, l.Err()
	}
	return c, o, nil
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
