package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/policy"
)

func init() { registerSockd(newDiffCmd) }

func newDiffCmd() *cobra.Command {
	var lenient, strict, asJSON bool
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "show exactly which requests two rule files decide differently",
		Long: `diff compares two sockd.conf files (text or frozen, either side) and prints every set of
requests whose decision differs: permitted by one and refused by the other, or decided by lines
with a different identd mode or shell command. The result is exact, not sampled: address masks
(contiguous or not), host name patterns and user lists are reasoned about symbolically.

The differences are grouped by the pair of deciding lines (old -> new). Each region is a source x
destination x port range x user set, minus the requests that earlier lines of either file decide
first, and comes with an example request in the flag syntax of sockd simulate, which has been
decided by the same decision function under both files before it is printed.

Exit status: 0 no difference, 1 differences, 2 usage or config error.`,
		Example: `  sockd diff /etc/sockd.conf sockd.conf.new
  sockd diff --json /etc/sockd.fc sockd.conf.new`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode, err := identMode(lenient, strict)
			if err != nil {
				return err
			}
			var pols [2]*policy.Policy
			for k, path := range args {
				conf, _, err := loadSockdForTool(cmd, path)
				if err != nil {
					return err
				}
				if pols[k], err = policy.New(conf, policy.Options{IdentMode: mode, Pid: os.Getpid()}); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "sockd diff: %s: %v\n", path, err)
					return exitError(ExitUsage)
				}
			}
			res, err := policy.Diff(pols[0], pols[1])
			if err != nil {
				return err
			}
			if asJSON {
				err = writeDiffJSON(cmd.OutOrStdout(), args, res)
			} else {
				writeDiffText(cmd.OutOrStdout(), args, res)
			}
			if err != nil {
				return err
			}
			if len(res.Pairs) > 0 {
				return exitError(ExitInvalid)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&lenient, "lenient-ident", "i", false, "as sockd -i: permit lines without ?= ask identd leniently (both files)")
	fs.BoolVarP(&strict, "strict-ident", "I", false, "as sockd -I: permit lines without ?= ask identd strictly (both files)")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func diffSideText(which string, s policy.DiffSide) string {
	if s.Index < 0 {
		return fmt.Sprintf("%s default (%s)", which, s.Action)
	}
	return fmt.Sprintf("%s line %d (%s)", which, s.Line, s.Action)
}

func writeDiffText(w io.Writer, files []string, res *policy.DiffResult) {
	fmt.Fprintf(w, "--- %s\n+++ %s\n", files[0], files[1])
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
			fmt.Fprintf(w, "    example: %s\n", shellJoin(r.Example.Args()))
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

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9._:/@%+=,-]+$`)

// shellJoin quotes words so that a shell (and simulate --batch) reads
// them back unchanged.
func shellJoin(words []string) string {
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

func writeDiffJSON(w io.Writer, files []string, res *policy.DiffResult) error {
	out := struct {
		Old     string         `json:"old_file"`
		New     string         `json:"new_file"`
		Regions int            `json:"regions"`
		Pairs   []diffJSONPair `json:"pairs"`
	}{Old: files[0], New: files[1], Regions: res.Regions(), Pairs: []diffJSONPair{}}
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
