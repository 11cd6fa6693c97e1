package policy

import (
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/boundedfile"
	"github.com/sockd/sockd/internal/diag"
)

// LintOptions configures Lint.
type LintOptions struct {
	// ReadFile reads user files, so that user lists naming files can be
	// compared; nil means boundedfile.ReadList. An unreadable file is reported, and
	// a list naming it is then only compared by the file's name.
	ReadFile func(name string) ([]byte, error)
	// Stat inspects user files for world-writable permissions; nil means
	// os.Stat.
	Stat func(name string) (fs.FileInfo, error)
}

// findingKind is what Lint found about a line.
type findingKind uint8

const (
	findNeverMatches  findingKind = iota // no request can match the line at all
	findShadowed                         // an earlier line matches all of it first
	findRedundant                        // a later line has the same effect on all of it
	findWorldWritable                    // a user file anyone can write
	findUnreadable                       // a user file that cannot be read
	findNoFinalDeny                      // the file ends without an explicit deny-all
	findInvalid                          // the line cannot be compiled
)

// finding is one result of the analysis, before it is worded.
type finding struct {
	kind  findingKind
	index int    // the line concerned (index in Rules)
	other int    // the covering line for shadowed and redundant, else -1
	what  string // detail: the file name, the reason a line never matches
	file  string // the user file concerned, to point the caret at
}

// lintRule is a compiled line with what the containment tests need.
type lintRule struct {
	rule
	cr    *config.Rule
	users lintUsers
	ports []portRange
}

// lintUsers is a user list resolved as far as the files can be read.
type lintUsers struct {
	any        bool
	names      map[string]bool // literal ids and the ids of readable files
	entries    []string        // the list as written, empty entries dropped
	unreadable map[string]bool // files that could not be read
	files      map[string][]string
}

type portRange struct{ lo, hi int }

// portRanges returns the ports a test accepts as disjoint, ordered ranges.
func portRanges(op config.PortOp, p uint16) []portRange {
	n := int(p)
	var out []portRange
	add := func(lo, hi int) {
		if lo <= hi {
			out = append(out, portRange{lo, hi})
		}
	}
	switch op {
	case config.OpNone:
		add(0, 65535)
	case config.OpEQ:
		add(n, n)
	case config.OpNEQ:
		add(0, n-1)
		add(n+1, 65535)
	case config.OpLT:
		add(0, n-1)
	case config.OpGT:
		add(n+1, 65535)
	case config.OpLE:
		add(0, n)
	case config.OpGE:
		add(n, 65535)
	}
	return out
}

// Lint reports lines that can never decide, lines whose removal changes
// nothing, world-writable or unreadable user files, and a missing final
// explicit deny. Every report is a warning positioned at its line (File is
// conf.Source), with a note pointing at the other line involved. A line that
// cannot be compiled is an error, and the analysis of lines stops there.
func Lint(conf *config.SockdConf, opts LintOptions) diag.List {
	var out diag.List
	for _, f := range lintFindings(conf, opts) {
		out.Add(describeFinding(conf, f))
	}
	out.Sort()
	return out
}

// maxRedundantScan bounds how many later lines are examined for each line
// when looking for redundancy, so that Lint stays fast on huge files; a
// redundancy further away is simply not reported.
const maxRedundantScan = 4096

func lintFindings(conf *config.SockdConf, opts LintOptions) []finding {
	if opts.ReadFile == nil {
		opts.ReadFile = boundedfile.ReadList
	}
	if opts.Stat == nil {
		opts.Stat = os.Stat
	}
	var out []finding
	files := map[string][]string{}
	unreadable := map[string]bool{}
	rules := make([]lintRule, len(conf.Rules))
	compiled := make([]rule, len(conf.Rules))
	var users userArena
	for i := range conf.Rules {
		cr := &conf.Rules[i]
		for _, u := range cr.Users {
			if !strings.HasPrefix(u, "/") {
				continue
			}
			if info, err := opts.Stat(u); err == nil && info.Mode().Perm()&0o002 != 0 {
				out = append(out, finding{kind: findWorldWritable, index: i, other: -1, what: u, file: u})
			}
			if _, done := files[u]; done || unreadable[u] {
				continue
			}
			data, err := opts.ReadFile(u)
			var ids []string
			if err == nil {
				ids, err = ParseUserFile(u, data)
			}
			if err != nil {
				unreadable[u] = true
				what := err.Error()
				if !strings.Contains(what, u) {
					what = u + ": " + what
				}
				out = append(out, finding{kind: findUnreadable, index: i, other: -1, what: what, file: u})
				continue
			}
			files[u] = ids
		}
		// Unreadable files compile as empty here; lintUsers keeps track of
		// them so that no containment is concluded from their contents.
		r, err := compileRule(cr, func(name string) ([]string, error) { return files[name], nil }, &users)
		if err != nil {
			out = append(out, finding{kind: findInvalid, index: i, other: -1, what: err.Error()})
			return out
		}
		compiled[i] = r
		rules[i] = lintRule{rule: r, cr: cr, users: resolveUsers(cr.Users, files, unreadable),
			ports: portRanges(cr.Port.Op, cr.Port.Port)}
	}
	idx := buildIndex(compiled, nil)
	never := make([]bool, len(rules))
	shadowed := make([]bool, len(rules))
	for j := range rules {
		b := &rules[j]
		if why := neverMatches(b); why != "" {
			never[j] = true
			out = append(out, finding{kind: findNeverMatches, index: j, other: -1, what: why})
			continue
		}
		for _, i := range idx.candidates(representative(&b.src), representative(&b.dst)) {
			if int(i) >= j {
				break
			}
			if covers(&rules[i], b) {
				shadowed[j] = true
				out = append(out, finding{kind: findShadowed, index: j, other: int(i)})
				break
			}
		}
	}
	for i := range rules {
		if never[i] || shadowed[i] {
			continue
		}
		if k := redundantWith(rules, &idx, i); k >= 0 {
			out = append(out, finding{kind: findRedundant, index: i, other: k})
		}
	}
	if n := len(rules); n == 0 || !isDenyAll(&rules[n-1]) {
		out = append(out, finding{kind: findNoFinalDeny, index: n - 1, other: -1})
	}
	return out
}

func resolveUsers(list []string, files map[string][]string, unreadable map[string]bool) lintUsers {
	if list == nil {
		return lintUsers{any: true}
	}
	u := lintUsers{names: map[string]bool{}, unreadable: map[string]bool{}, files: files}
	for _, e := range list {
		if e == "" {
			continue
		}
		u.entries = append(u.entries, e)
		if !strings.HasPrefix(e, "/") {
			u.names[e] = true
			continue
		}
		if unreadable[e] {
			u.unreadable[e] = true
			continue
		}
		for _, id := range files[e] {
			u.names[id] = true
		}
	}
	return u
}

// neverMatches says why no request can match a line, or "".
func neverMatches(r *lintRule) string {
	if len(r.ports) == 0 {
		return fmt.Sprintf("no port is %s %d", r.cr.Port.Op, r.cr.Port.Port)
	}
	if !r.users.any && len(r.users.names) == 0 && len(r.users.unreadable) == 0 {
		return "its user list names no user"
	}
	return ""
}

// representative returns an address every request matching m can have
// (the masked network itself), or no address when m is not a mask.
func representative(m *addrMatcher) addr128 {
	if m.kind != kindMask {
		return addr128{}
	}
	return addr128{hi: m.net.hi, lo: m.net.lo, fam: m.fam}
}

func isDenyAll(r *lintRule) bool {
	return !r.permit && r.src.kind == kindAny && r.dst.kind == kindAny && r.users.any && r.portOp == config.OpNone
}

// covers reports whether every request matching b also matches a. It may
// answer false when unsure, never true when wrong.
func covers(a, b *lintRule) bool {
	return addrCovers(&a.src, &b.src) && addrCovers(&a.dst, &b.dst) &&
		usersCover(&a.users, &b.users) && portsCover(a.ports, b.ports)
}

func addrCovers(a, b *addrMatcher) bool {
	switch {
	case a.kind == kindAny:
		return true
	case b.kind == kindAny:
		return false
	case a.kind == kindMask && b.kind == kindMask:
		// b's set is inside a's when a constrains no bit b leaves free and
		// b's network agrees with a's on a's bits.
		return a.fam == b.fam &&
			a.mask.hi&^b.mask.hi == 0 && a.mask.lo&^b.mask.lo == 0 &&
			b.net.hi&a.mask.hi == a.net.hi && b.net.lo&a.mask.lo == a.net.lo
	case a.kind == kindPattern && b.kind == kindPattern:
		return patternCovers(a.pat, b.pat)
	}
	// A mask never covers a pattern (a named host may have any address, or
	// none) and a pattern never covers a mask (an address may have no name).
	return false
}

// patternCovers: every name b accepts, a accepts too.
func patternCovers(a, b *namePattern) bool {
	if !a.zone {
		return !b.zone && a.name == b.name
	}
	if a.name == "" {
		return true
	}
	if b.name == "" { // b is the root zone: every name
		return false
	}
	return b.name == a.name || strings.HasSuffix(b.name, "."+a.name)
}

func usersCover(a, b *lintUsers) bool {
	if a.any {
		return true
	}
	if b.any {
		return false
	}
	listed := map[string]bool{}
	for _, e := range a.entries {
		listed[e] = true
	}
	for _, e := range b.entries {
		if !strings.HasPrefix(e, "/") {
			if !a.names[e] {
				return false
			}
			continue
		}
		if listed[e] { // the same file: whatever it holds
			continue
		}
		if b.unreadable[e] {
			return false
		}
		for _, id := range b.files[e] {
			if !a.names[id] {
				return false
			}
		}
	}
	return true
}

func portsCover(a, b []portRange) bool {
	for _, rb := range b {
		inside := false
		for _, ra := range a {
			if ra.lo <= rb.lo && rb.hi <= ra.hi {
				inside = true
				break
			}
		}
		if !inside {
			return false
		}
	}
	return true
}

// overlaps reports whether some request may match both lines; it answers
// true when unsure.
func overlaps(a, b *lintRule) bool {
	return addrOverlaps(&a.src, &b.src) && addrOverlaps(&a.dst, &b.dst) &&
		usersOverlap(&a.users, &b.users) && portsOverlap(a.ports, b.ports)
}

func addrOverlaps(a, b *addrMatcher) bool {
	if a.kind == kindMask && b.kind == kindMask {
		return a.fam == b.fam &&
			a.net.hi&b.mask.hi == b.net.hi&a.mask.hi && a.net.lo&b.mask.lo == b.net.lo&a.mask.lo
	}
	// Any overlaps everything; a pattern may name a host with any address,
	// and two patterns may both name one host (hosts have several names).
	return true
}

func usersOverlap(a, b *lintUsers) bool {
	if a.any || b.any || len(a.unreadable) > 0 || len(b.unreadable) > 0 {
		return true
	}
	for n := range a.names {
		if b.names[n] {
			return true
		}
	}
	return false
}

func portsOverlap(a, b []portRange) bool {
	for _, ra := range a {
		for _, rb := range b {
			if ra.lo <= rb.hi && rb.lo <= ra.hi {
				return true
			}
		}
	}
	return false
}

// sameEffect reports whether two lines decide a request they both match in
// the same way: same action, same ?= setting, same command.
func sameEffect(a, b *lintRule) bool {
	return a.permit == b.permit && a.ident == b.ident && a.cr.Command == b.cr.Command
}

// redundantWith returns a later line that makes line i redundant, or -1.
// Removing line i hands each request it decided to the next line matching
// it; that changes nothing when every later line that may match such a
// request, up to one that matches all of them, has the same effect. The
// index proposes the later lines that could cover line i, so the scan of
// the lines in between only happens when there is a covering line.
func redundantWith(rules []lintRule, idx *index, i int) int {
	a := &rules[i]
	j := -1
	for _, k := range idx.candidates(representative(&a.src), representative(&a.dst)) {
		if int(k) > i && covers(&rules[k], a) {
			j = int(k)
			break
		}
	}
	if j < 0 || !sameEffect(a, &rules[j]) || j-i > maxRedundantScan {
		return -1
	}
	for k := i + 1; k < j; k++ {
		if b := &rules[k]; overlaps(b, a) && !sameEffect(a, b) {
			return -1
		}
	}
	return j
}

func describeFinding(conf *config.SockdConf, f finding) diag.Diagnostic {
	if f.index < 0 { // no rules at all
		return diag.Diagnostic{File: conf.Source, Line: 1, Col: 1, Severity: diag.Warning,
			Message: "no rules: every request is refused by the implicit default",
			Hint:    "add lines such as `permit 10.0.0.0 255.0.0.0` and end with `deny 0.0.0.0 0.0.0.0`"}
	}
	cr := &conf.Rules[f.index]
	d := diag.Diagnostic{File: conf.Source, Line: cr.Pos.Line, Col: max(cr.Pos.Col, 1),
		Severity: diag.Warning, Source: cr.Text}
	var other *config.Rule
	if f.other >= 0 {
		other = &conf.Rules[f.other]
	}
	switch f.kind {
	case findInvalid:
		d.Severity = diag.Error
		d.Message = "invalid rule: " + f.what
	case findNeverMatches:
		d.Message = "rule can never match: " + f.what
		d.Hint = "remove the line or fix the condition"
	case findShadowed:
		act, by := cr.Action.String(), verb(other.Action)
		if cr.Action == other.Action {
			d.Message = fmt.Sprintf("rule is shadowed: line %d already %s every request this line matches", other.Pos.Line, by)
		} else {
			d.Message = fmt.Sprintf("%s is never reached: line %d %s all of it first", act, other.Pos.Line, by)
		}
		d.Hint = "the first matching line decides; move this line above the other one or remove it"
		d.Notes = append(d.Notes, noteAt(conf, other, "this earlier line matches every request the later line matches"))
	case findRedundant:
		d.Message = fmt.Sprintf("rule is redundant: line %d later %s all of it with the same effect", other.Pos.Line, verb(other.Action))
		d.Hint = "removing this line changes no decision"
		d.Notes = append(d.Notes, noteAt(conf, other, "this later line decides the same requests the same way"))
	case findWorldWritable:
		d.Message = fmt.Sprintf("user file %s is world-writable: anyone on this host can change who this line applies to", f.what)
		d.Hint = "chmod o-w " + f.what
	case findUnreadable:
		d.Message = "user file cannot be read, so sockd will refuse to load this configuration: " + f.what
	case findNoFinalDeny:
		d.Message = "no explicit final deny: requests matching no line are refused by an invisible default"
		d.Hint = "end the file with `deny 0.0.0.0 0.0.0.0` (add `: command` to log refusals)"
	}
	if f.file != "" {
		pointAt(&d, cr, f.file)
	}
	return d
}

func verb(a config.Action) string {
	if a == config.Permit {
		return "permits"
	}
	return "denies"
}

func noteAt(conf *config.SockdConf, r *config.Rule, msg string) diag.Note {
	return diag.Note{File: conf.Source, Line: r.Pos.Line, Col: max(r.Pos.Col, 1), Message: msg, Source: r.Text}
}

// pointAt moves the caret of d under the first occurrence of s in the line.
func pointAt(d *diag.Diagnostic, cr *config.Rule, s string) {
	if i := strings.Index(cr.Text, s); i >= 0 {
		d.Col, d.EndCol = i+1, i+1+len(s)
	}
}
