package cli

// The --batch mode of sockd simulate: one request per line of a file.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// batch runs every request of a batch file. A malformed line is reported
// with its position and the run goes on; the exit status is then 2.
func (s *simulator) batch(cmd *cobra.Command, path string) error {
	var r io.Reader
	name := path
	if path == "-" {
		r, name = cmd.InOrStdin(), "<stdin>"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	bw := bufio.NewWriter(s.out)
	defer bw.Flush()
	s.out = bw
	status := ExitOK
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var req simRequest
		fs := pflag.NewFlagSet("batch", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		req.flags(fs)
		words, err := splitWords(line)
		if err == nil {
			err = fs.Parse(words)
		}
		if err == nil && fs.NArg() > 0 {
			err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		var res simResult
		if err == nil {
			res, err = s.run(&req)
		}
		if err != nil {
			bw.Flush()
			fmt.Fprintf(cmd.ErrOrStderr(), "%s:%d: %v\n", name, n, err)
			status = ExitUsage
			continue
		}
		if res.Decision != "permit" && status == ExitOK {
			status = ExitInvalid
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	if status != ExitOK {
		return exitError(status)
	}
	return nil
}

// splitWords splits a batch line like a shell would for simple quoting:
// blanks separate words, '...' and "..." group.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
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
