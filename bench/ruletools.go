package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sockd/sockd/internal/benchdata"
)

// ruleToolsResult is the rule-change tools' part of the config-scale rows:
// sockd replay and sockd diff, timed as the processes users run.
type ruleToolsResult struct {
	replayLines  int           // log lines read by each replay
	replay       time.Duration // sockd replay -c NEW LOG, wall time
	diffRules    int
	diffEdit     time.Duration // sockd diff OLD NEW, NEW an edited copy of OLD
	editRegions  int
	diffOther    time.Duration // sockd diff OLD NEW of two unrelated files
	otherRegions int
}

// replayRate is the replay's log lines per second.
func (r ruleToolsResult) replayRate() float64 {
	if r.replay <= 0 {
		return 0
	}
	return float64(r.replayLines) / r.replay.Seconds()
}

// editLines is a typical change of the lines of a file: a line inserted
// at the top, three removed, four actions flipped and one port test
// widened.
func editLines(lines []string) []string {
	n := len(lines)
	for _, k := range []int{n / 7, n / 3, n / 2, 2 * n / 3} {
		if strings.HasPrefix(lines[k], "permit ") {
			lines[k] = "deny " + strings.TrimPrefix(lines[k], "permit ")
		} else if strings.HasPrefix(lines[k], "deny ") {
			lines[k] = "permit " + strings.TrimPrefix(lines[k], "deny ")
		}
	}
	if k := strings.Index(lines[n/5], " eq "); k > 0 {
		lines[n/5] = lines[n/5][:k] + " ge 1"
	}
	lines = append(lines[:n/4], lines[n/4+3:]...)
	return append([]string{"deny 10.9.0.0 255.255.0.0"}, lines...)
}

// rewriteLines writes path's lines, changed by edit, to out.
func rewriteLines(path, out string, edit func([]string) []string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := edit(strings.Split(strings.TrimRight(string(data), "\n"), "\n"))
	return os.WriteFile(out, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// shuffleLines puts the lines but the last (the final deny) in another
// order.
func shuffleLines(lines []string) []string {
	rng := rand.New(rand.NewPCG(7, 8))
	rng.Shuffle(len(lines)-1, func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	return lines
}

// toolRun runs sockd with args, as a user does, and returns its wall time
// and standard output. Exit status 1 is the tools' "something changes",
// not a failure; 2 and up are.
func toolRun(sockdBin string, args ...string) (time.Duration, []byte, error) {
	cmd := exec.Command(sockdBin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		err = nil
	}
	if err != nil {
		return d, nil, fmt.Errorf("sockd %s: %v\n%s", strings.Join(args, " "), err, errOut.Bytes())
	}
	return d, out.Bytes(), nil
}

// medianRun runs f runs times and keeps the median duration.
func medianRun(runs int, f func() (time.Duration, error)) (time.Duration, error) {
	var ds []time.Duration
	for range max(runs, 1) {
		d, err := f()
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

var replaySummary = regexp.MustCompile(`unparsable (\d+) \((\d+) lines read`)

// ruleTools times `sockd replay -c NEW LOG` of a generated daemon log of
// logLines lines against the config-scale workload's rules (bigConf, the
// frozen file: the form a 100,000-rule file is kept in, whose load takes
// a tenth of a second where the text's takes over one, so the figure is
// the rate of reading the log, the target), and `sockd diff OLD NEW` of two diffRules-line files
// twice: NEW an edited copy of OLD (what an operator deploys), and NEW the
// same lines in another order (the worst case: most pairs of lines now
// overlap differently). Each is the median of runs.
func ruleTools(sockdBin, dir, bigConf string, logLines, diffRules, runs int) (ruleToolsResult, error) {
	res := ruleToolsResult{diffRules: diffRules}
	logPath := filepath.Join(dir, "replay.log")
	f, err := os.Create(logPath)
	if err != nil {
		return res, err
	}
	res.replayLines, err = benchdata.WriteReplayLog(f, logLines, filepath.Base(bigConf))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	defer os.Remove(logPath)
	res.replay, err = medianRun(runs, func() (time.Duration, error) {
		d, out, err := toolRun(sockdBin, "replay", "-c", bigConf, logPath)
		if err != nil {
			return d, err
		}
		// A rate is only a rate if every line was read and understood.
		m := replaySummary.FindSubmatch(out)
		if m == nil {
			return d, fmt.Errorf("sockd replay: no summary in its output:\n%.500s", out)
		}
		if bad, _ := strconv.Atoi(string(m[1])); bad != 0 {
			return d, fmt.Errorf("sockd replay: %d unparsable lines in the generated log:\n%.500s", bad, out)
		}
		if read, _ := strconv.Atoi(string(m[2])); read != res.replayLines {
			return d, fmt.Errorf("sockd replay read %d lines, the log has %d", read, res.replayLines)
		}
		return d, nil
	})
	if err != nil {
		return res, err
	}

	oldPath := filepath.Join(dir, "diff-old.conf")
	editPath := filepath.Join(dir, "diff-edited.conf")
	otherPath := filepath.Join(dir, "diff-shuffled.conf")
	writeBigConf(oldPath, diffRules)
	if err := rewriteLines(oldPath, editPath, editLines); err != nil {
		return res, err
	}
	if err := rewriteLines(oldPath, otherPath, shuffleLines); err != nil {
		return res, err
	}
	diff := func(newPath string, regions *int) (time.Duration, error) {
		return medianRun(runs, func() (time.Duration, error) {
			d, out, err := toolRun(sockdBin, "diff", oldPath, newPath)
			if err != nil {
				return d, err
			}
			*regions = bytes.Count(out, []byte("\n  from "))
			if *regions == 0 {
				return d, fmt.Errorf("sockd diff %s %s found no difference in a changed file", oldPath, newPath)
			}
			return d, nil
		})
	}
	if res.diffEdit, err = diff(editPath, &res.editRegions); err != nil {
		return res, err
	}
	res.diffOther, err = diff(otherPath, &res.otherRegions)
	return res, err
}
