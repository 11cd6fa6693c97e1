package grammar

import (
	"fmt"
	"strings"
)

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and swaps of adjacent characters each cost one,
// so "telent" is one step from "telnet".
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 { // hints only: long words are never close
		return max(len(a), len(b))
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// closest returns the candidate nearest to word (ignoring case), or "" when
// none is near enough to be a plausible typo. Ties go to the earlier
// candidate, so callers list candidates in a stable order.
func closest(word string, candidates []string) string {
	limit := 2
	if len(word) <= 4 {
		limit = 1
	}
	lw := strings.ToLower(word)
	best, bestDist := "", limit+1
	for _, cand := range candidates {
		d := editDistance(lw, strings.ToLower(cand))
		if d < bestDist {
			best, bestDist = cand, d
		}
	}
	if bestDist >= len(word) {
		return ""
	}
	return best
}

// didYouMean is a hint naming the closest candidate, or fallback.
func didYouMean(word string, candidates []string, fallback string) string {
	if c := closest(word, candidates); c != "" {
		return fmt.Sprintf("did you mean %s?", quote(c))
	}
	return fallback
}

// quote shows a source fragment in a message: in backquotes, control
// characters replaced by '?' (a hostile file must not drive the terminal),
// and cut short when long.
func quote(s string) string {
	const maxLen = 60
	cut := false
	if len(s) > maxLen {
		s, cut = s[:maxLen], true
	}
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '\uFFFD' {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if cut {
		s += "..."
	}
	return "`" + s + "`"
}
