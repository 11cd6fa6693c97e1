package simulate

// The --batch mode of sockd simulate: one request per line of a file.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/spf13/pflag"
)

// Tally is what a batch found, beyond the decisions it wrote.
type Tally struct {
	Refused   bool // some request was refused
	Malformed bool // some line could not be read as a request
}

// Batch runs every request of a batch file, read from r; name is how
// messages cite it. A malformed line is reported on stderr with its
// position and the run goes on.
func (s *Simulator) Batch(r io.Reader, name string, stderr io.Writer) (Tally, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	bw := bufio.NewWriter(s.Out)
	defer bw.Flush()
	s.Out = bw
	var t Tally
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var req Request
		fs := pflag.NewFlagSet("batch", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		req.Flags(fs)
		words, err := splitWords(line)
		if err == nil {
			err = fs.Parse(words)
		}
		if err == nil && fs.NArg() > 0 {
			err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		var res Result
		if err == nil {
			res, err = s.Run(&req)
		}
		if err != nil {
			bw.Flush()
			fmt.Fprintf(stderr, "%s:%d: %v\n", name, n, err)
			t.Malformed = true
			continue
		}
		if !res.Permitted() {
			t.Refused = true
		}
	}
	if err := sc.Err(); err != nil {
		return t, fmt.Errorf("%s: %v", name, err)
	}
	return t, nil
}

// splitWords splits a batch line as a shell reads simple quoting: blanks
// separate words, '...' and "..." group, a backslash outside quotes takes
// the next character as it is, and inside "..." it escapes " or \. That
// is how QuoteWords writes an apostrophe, so its output reads back.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && quote != '\'':
			if i+1 == len(s) {
				return nil, errors.New("a backslash at the end of the line")
			}
			if next := s[i+1]; quote == 0 || next == '"' || next == '\\' {
				c = next
				i++
			}
			cur.WriteByte(c)
			inWord = true
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9._:/@%+=,-]+$`)

// QuoteWords quotes words so that a shell (and a --batch line) reads them
// back unchanged: how diff and replay print their example requests.
func QuoteWords(words []string) string {
	out := make([]string, len(words))
	for k, w := range words {
		if shellSafe.MatchString(w) {
			out[k] = w
		} else {
			out[k] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
