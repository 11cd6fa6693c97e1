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
	} {
		got, err := splitWords(QuoteWords(words))
		if err != nil || !slices.Equal(got, words) {
			t.Errorf("%q -> %q -> %q, %v", words, QuoteWords(words), got, err)
		}
	}
}
