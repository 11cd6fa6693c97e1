package report

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/sockd/sockd/internal/replay"
	"github.com/sockd/sockd/internal/simulate"
)

// Replay writes the result of sockd replay: as JSON Lines, or for a
// person.
func Replay(w io.Writer, rep *replay.Report, asJSON bool) error {
	if asJSON {
		return replayJSON(w, rep)
	}
	replayText(w, rep)
	return nil
}

// replayText writes the result of sockd replay for a person: the summary,
// the changed groups with an example each, and the unparsable lines.
func replayText(w io.Writer, rep *replay.Report) {
	s := rep.Summary
	fmt.Fprintf(w, "total %d, unchanged %d, newly_refused %d, newly_permitted %d, unparsable %d (%d lines read, %d other)\n",
		s.Total, s.Unchanged, s.NewlyRefused, s.NewlyPermitted, s.Unparsable, s.Lines, s.Other)
	for _, g := range rep.Groups {
		fmt.Fprintf(w, "%s -> %s: %d request%s\n", g.Old, g.New, g.Count, plural(g.Count))
		fmt.Fprintf(w, "  example (%s): %s\n", g.Example.Where, simulate.QuoteWords(g.Example.Args()))
	}
	for _, b := range rep.Bad {
		fmt.Fprintf(w, "unparsable: %s: %s\n  %s\n", b.Where, b.Why, b.Text)
	}
	if s.Unparsable > len(rep.Bad) {
		fmt.Fprintf(w, "unparsable: %d more not shown\n", s.Unparsable-len(rep.Bad))
	}
}

// replayJSON writes the result of sockd replay as JSON Lines: one object
// per group, then one summary object.
func replayJSON(w io.Writer, rep *replay.Report) error {
	enc := json.NewEncoder(w)
	type side struct {
		Decision string `json:"decision"` // permit or deny
		Line     int    `json:"line"`     // 0 the implicit default, -1 not logged
	}
	sideOf := func(o replay.Outcome) side {
		d := "deny"
		if o.Permit {
			d = "permit"
		}
		return side{d, o.Line}
	}
	for _, g := range rep.Groups {
		if err := enc.Encode(struct {
			Old     side     `json:"old"`
			New     side     `json:"new"`
			Count   int      `json:"count"`
			Example []string `json:"example"`
			Where   string   `json:"where"`
		}{sideOf(g.Old), sideOf(g.New), g.Count, g.Example.Args(), g.Example.Where}); err != nil {
			return err
		}
	}
	type bad struct {
		Where string `json:"where"`
		Why   string `json:"why"`
		Text  string `json:"text"`
	}
	bads := []bad{}
	for _, b := range rep.Bad {
		bads = append(bads, bad{b.Where, b.Why, b.Text})
	}
	return enc.Encode(struct {
		Summary         replay.Summary `json:"summary"`
		UnparsableLines []bad          `json:"unparsable_lines"`
	}{rep.Summary, bads})
}
