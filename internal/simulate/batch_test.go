package simulate

import (
	"slices"
	"testing"
)

// The example requests diff and replay print are read back by --batch
// as the same words.
func TestQuoteWordsSplitsBack(t *testing.T) {
	for _, words := range [][]string{
		{"--from", "10.0.0.1", "--to", "192.0.2.1", "--port", "80"},
		{"--user", "a b", "--to", "*.example"},
		{"--user", `say "hi"`, "--ident", ""},
		{"--user", "it's", "--ident", `o'neil`},
		{"--user", `DOMAIN\user`, "--ident", `'`},
	} {
		got, err := splitWords(QuoteWords(words))
		if err != nil || !slices.Equal(got, words) {
			t.Errorf("%q -> %q -> %q, %v", words, QuoteWords(words), got, err)
		}
	}
}

// A batch line is read as a shell reads simple quoting: a backslash
// outside quotes takes the next character as it is, and inside double
// quotes it escapes a double quote or a backslash.
func TestSplitWordsBackslash(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{`--user it\'s`, []string{"--user", "it's"}},
		{`--user a\ b`, []string{"--user", "a b"}},
		{`--user "say \"hi\""`, []string{"--user", `say "hi"`}},
		{`--user "a\b"`, []string{"--user", `a\b`}},
		{`--user 'a\b'`, []string{"--user", `a\b`}},
	} {
		got, err := splitWords(tc.line)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s -> %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
	if _, err := splitWords(`--user a\`); err == nil {
		t.Error("a line ending in a lone backslash was accepted")
	}
}
