// Package diag is the one diagnostic type of the toolchain and its text and
// JSON renderings. Every parser and checker reports through it, so that the
// compiler, the linter, `sockd -t` and the daemon's reload all print faults
// the same way: FILE:LINE:COL, the source line, a caret, and a hint.
package diag

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Severity says whether a diagnostic stops a build.
type Severity int

const (
	Error   Severity = iota // the file cannot be compiled
	Warning                 // the file compiles, but something is probably wrong
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// MarshalText makes Severity appear as "error"/"warning" in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Note points at another place that explains a diagnostic, for example the
// earlier rule that shadows a later one.
type Note struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
	Source  string `json:"source,omitempty"`
}

// Diagnostic is one positioned fault. Line and Col are 1-based; Col counts
// bytes. EndCol, when greater than Col, is the column just past the fault and
// widens the caret into an underline. Source is the text of the faulty line
// (without its newline); it is what the caret is drawn under.
type Diagnostic struct {
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Col      int      `json:"col"`
	EndCol   int      `json:"end_col,omitempty"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Hint     string   `json:"hint,omitempty"`
	Source   string   `json:"source,omitempty"`
	Notes    []Note   `json:"notes,omitempty"`
}

// Header is the first line of the text form: FILE:LINE:COL: severity: message.
func (d Diagnostic) Header() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s", d.File, d.Line, d.Col, d.Severity, d.Message)
}

// Error makes a Diagnostic usable as an error value (its header line).
func (d Diagnostic) Error() string { return d.Header() }

// List is every diagnostic of one run.
type List []Diagnostic

// Add appends a diagnostic.
func (l *List) Add(d Diagnostic) { *l = append(*l, d) }

// Sort orders by file, line, column, then errors before warnings, keeping
// the order of equal entries stable.
func (l List) Sort() {
	slices.SortStableFunc(l, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col), cmp.Compare(a.Severity, b.Severity))
	})
}

// HasErrors reports whether any diagnostic is an error.
func (l List) HasErrors() bool { return l.Count(Error) > 0 }

// Count returns how many diagnostics have severity s.
func (l List) Count(s Severity) int {
	n := 0
	for _, d := range l {
		if d.Severity == s {
			n++
		}
	}
	return n
}

// Only returns the diagnostics of severity s.
func (l List) Only(s Severity) List {
	var out List
	for _, d := range l {
		if d.Severity == s {
			out = append(out, d)
		}
	}
	return out
}

// Err returns nil when l holds no error, else l itself as an error (see
// List.Error).
func (l List) Err() error {
	if !l.HasErrors() {
		return nil
	}
	return l
}

// Error makes a List an error whose text is the whole rendered list. Being
// an error itself, a List survives wrapping: whoever prints the error finds
// the diagnostics, with their source lines and carets, by errors.As:
//
//	var l diag.List
//	if errors.As(err, &l) {
//		l.WriteText(os.Stderr)
//	}
func (l List) Error() string {
	var b strings.Builder
	l.WriteText(&b)
	return strings.TrimRight(b.String(), "\n")
}

// WriteText renders every diagnostic compiler-style, followed by a summary
// line when there is more than one.
func (l List) WriteText(w io.Writer) {
	for _, d := range l {
		d.WriteText(w)
	}
	errs, warns := l.Count(Error), l.Count(Warning)
	if errs+warns > 1 {
		fmt.Fprintf(w, "%s, %s\n", plural(errs, "error"), plural(warns, "warning"))
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// WriteText renders one diagnostic:
//
//	sockd.conf:3:31: error: unknown service "telent"
//	    permit 10.0.0.0 255.0.0.0 eq telent
//	                                 ^~~~~~
//	    hint: did you mean "telnet"?
func (d Diagnostic) WriteText(w io.Writer) {
	fmt.Fprintln(w, d.Header())
	if d.Source != "" {
		fmt.Fprintf(w, "    %s\n    %s\n", printable(d.Source), caret(d.Source, d.Col, d.EndCol))
	}
	if d.Hint != "" {
		fmt.Fprintf(w, "    hint: %s\n", d.Hint)
	}
	for _, n := range d.Notes {
		fmt.Fprintf(w, "%s:%d:%d: note: %s\n", n.File, n.Line, n.Col, n.Message)
		if n.Source != "" {
			fmt.Fprintf(w, "    %s\n    %s\n", printable(n.Source), caret(n.Source, n.Col, 0))
		}
	}
}

// printable keeps a hostile source line from driving the terminal: control
// characters other than tab are shown as '?'.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r >= ' ' && r != 0x7f {
			return r
		}
		return '?'
	}, s)
}

// caret draws ^ under byte column col (1-based) and ~ up to endCol. Tabs in
// the prefix are kept as tabs so that the caret lines up however the
// terminal expands them.
func caret(src string, col, endCol int) string {
	if col < 1 {
		col = 1
	}
	var b strings.Builder
	for i := 0; i < col-1 && i < len(src); i++ {
		if src[i] == '\t' {
			b.WriteByte('\t')
		} else if src[i]&0xC0 != 0x80 { // one space per character, not per byte
			b.WriteByte(' ')
		}
	}
	for i := len(src); i < col-1; i++ {
		b.WriteByte(' ')
	}
	b.WriteByte('^')
	for i := col + 1; i < endCol; i++ {
		b.WriteByte('~')
	}
	return b.String()
}

// WriteJSON renders the list as a JSON array (an empty array when l is empty).
func (l List) WriteJSON(w io.Writer) error {
	if l == nil {
		l = List{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(l)
}
