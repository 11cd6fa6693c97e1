package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/sockd/sockd/internal/simulate"
	"github.com/sockd/sockd/policy"
)

func diffSideText(which string, s policy.DiffSide) string {
	if s.Index < 0 {
		return fmt.Sprintf("%s default (%s)", which, s.Action)
	}
	return fmt.Sprintf("%s line %d (%s)", which, s.Line, s.Action)
}

// Diff writes the result of sockd diff: as one indented JSON object, or
// for a person.
func Diff(w io.Writer, oldFile, newFile string, res *policy.DiffResult, asJSON bool) error {
	if asJSON {
		return diffJSON(w, oldFile, newFile, res)
	}
	diffText(w, oldFile, newFile, res)
	return nil
}

// diffText writes the result of sockd diff for a person: a unified
// diff's header, then each pair of deciding lines with its regions.
func diffText(w io.Writer, oldFile, newFile string, res *policy.DiffResult) {
	fmt.Fprintf(w, "--- %s\n+++ %s\n", oldFile, newFile)
	for _, p := range res.Pairs {
		fmt.Fprintf(w, "%s -> %s\n", diffSideText("old", p.Old), diffSideText("new", p.New))
		if p.Old.Index >= 0 {
			fmt.Fprintf(w, "  - %s\n", p.Old.Text)
		}
		if p.New.Index >= 0 {
			fmt.Fprintf(w, "  + %s\n", p.New.Text)
		}
		for _, r := range p.Regions {
			fmt.Fprintf(w, "  from %s; to %s; port %s; user %s\n", r.Src, r.Dst, portSpan(r.Ports), r.Users)
			if ex := exceptText(r); ex != "" {
				verb := "decide"
				if len(r.ExceptOld)+len(r.ExceptNew) == 1 {
					verb = "decides"
				}
				fmt.Fprintf(w, "    except what %s %s first\n", ex, verb)
			}
			fmt.Fprintf(w, "    example: %s\n", simulate.QuoteWords(r.Example.Args()))
		}
	}
	pairs := len(res.Pairs)
	fmt.Fprintf(w, "%d region%s in %d line pair%s decided differently\n", res.Regions(), plural(res.Regions()), pairs, plural(pairs))
}

func exceptText(r policy.DiffRegion) string {
	var parts []string
	if len(r.ExceptOld) > 0 {
		parts = append(parts, linesText("old", r.ExceptOld))
	}
	if len(r.ExceptNew) > 0 {
		parts = append(parts, linesText("new", r.ExceptNew))
	}
	return strings.Join(parts, " and ")
}

func linesText(which string, lines []int) string {
	const show = 10
	var s []string
	for k, l := range lines {
		if k == show {
			s = append(s, fmt.Sprintf("… (%d lines)", len(lines)))
			break
		}
		s = append(s, strconv.Itoa(l))
	}
	word := "line"
	if len(lines) > 1 {
		word = "lines"
	}
	return fmt.Sprintf("%s %s %s", which, word, strings.Join(s, ","))
}

func portSpan(p [2]int) string {
	if p[0] == p[1] {
		return strconv.Itoa(p[0])
	}
	return fmt.Sprintf("%d-%d", p[0], p[1])
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

type diffJSONSide struct {
	Line   int    `json:"line"` // 0 for the implicit default
	Text   string `json:"text"`
	Action string `json:"action"`
}

type diffJSONRegion struct {
	Src       string   `json:"src"`
	Dst       string   `json:"dst"`
	PortLo    int      `json:"port_lo"`
	PortHi    int      `json:"port_hi"`
	Users     string   `json:"users"`
	ExceptOld []int    `json:"except_old"`
	ExceptNew []int    `json:"except_new"`
	Example   []string `json:"example"`
}

type diffJSONPair struct {
	Old     diffJSONSide     `json:"old"`
	New     diffJSONSide     `json:"new"`
	Regions []diffJSONRegion `json:"regions"`
}

// diffJSON writes the result of sockd diff as one indented JSON object.
func diffJSON(w io.Writer, oldFile, newFile string, res *policy.DiffResult) error {
	out := struct {
		Old     string         `json:"old_file"`
		New     string         `json:"new_file"`
		Regions int            `json:"regions"`
		Pairs   []diffJSONPair `json:"pairs"`
	}{Old: oldFile, New: newFile, Regions: res.Regions(), Pairs: []diffJSONPair{}}
	side := func(s policy.DiffSide) diffJSONSide {
		return diffJSONSide{Line: s.Line, Text: s.Text, Action: s.Action}
	}
	for _, p := range res.Pairs {
		jp := diffJSONPair{Old: side(p.Old), New: side(p.New)}
		for _, r := range p.Regions {
			jr := diffJSONRegion{Src: r.Src, Dst: r.Dst, PortLo: r.Ports[0], PortHi: r.Ports[1], Users: r.Users,
				ExceptOld: r.ExceptOld, ExceptNew: r.ExceptNew, Example: r.Example.Args()}
			if jr.ExceptOld == nil {
				jr.ExceptOld = []int{}
			}
			if jr.ExceptNew == nil {
				jr.ExceptNew = []int{}
			}
			jp.Regions = append(jp.Regions, jr)
		}
		out.Pairs = append(out.Pairs, jp)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
