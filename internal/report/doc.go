// Package report words the answers of the two tools that compare rule
// sets, for a person (text) and for scripts (JSON): `sockd diff` (a
// policy.DiffResult: the regions of requests two files decide
// differently) and `sockd replay` (a replay.Report: the logged requests a
// rule change would decide differently). Their example requests are
// printed in the flag syntax of sockd simulate, quoted by
// simulate.QuoteWords, so that they can be pasted or fed to --batch.
//
// Computing the answers is not done here: the diff is policy.Diff, the
// replay is internal/replay; the command lines are internal/cli.
package report
