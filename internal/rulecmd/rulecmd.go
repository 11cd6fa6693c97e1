// Package rulecmd runs the shell commands of sockd.conf and socks.conf
// lines (": CMD" after a rule), bounded in how many run at once and in how
// long each may take.
//
// It runs what it is given and nothing else: the commands arrive already
// expanded by policy.Expand, which replaces every character of client input
// outside a small safe set, so a hostile USERID or host name cannot inject
// shell syntax. The decision to run them is the policy's (policy.Decision's
// ShellCommands); when they run, in the session, is the server's
// (internal/server).
package rulecmd

import (
	"context"
	"log/slog"
	"os/exec"
	"syscall"
	"time"
)

// Runner runs the shell commands of the rules (already expanded and
// sanitised by the policy) the way 4.3 did, "/bin/sh -c CMD" with
// /dev/null as stdin, stdout and stderr, but in the background: 4.3 waited
// for the command, so a slow command stalled the request. At most max
// commands run at once; a command beyond that is logged and dropped rather
// than queued, so a flood of refused clients cannot pile up processes.
type Runner struct {
	slots   chan struct{}
	timeout time.Duration
	log     *slog.Logger
}

// New returns a Runner of at most max commands at once, each killed (with
// its whole process group) after timeout.
func New(max int, timeout time.Duration, log *slog.Logger) *Runner {
	return &Runner{slots: make(chan struct{}, max), timeout: timeout, log: log}
}

// Run starts cmds, one after the other in a single background job (the
// #NO_IDENTD: command before the line's own, as 4.3 ran them), and returns
// at once. done, if not nil, is called when the job ends (tests).
func (r *Runner) Run(cmds []string, done func()) {
	if len(cmds) == 0 {
		return
	}
	select {
	case r.slots <- struct{}{}:
	default:
		r.log.Warn("shell command dropped: too many commands running", "command", cmds[0], "max", cap(r.slots))
		if done != nil {
			done()
		}
		return
	}
	go func() {
		defer func() {
			<-r.slots
			if done != nil {
				done()
			}
		}()
		for _, c := range cmds {
			r.runOne(c)
		}
	}()
}

func (r *Runner) runOne(command string) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	// Nil Stdin/Stdout/Stderr are /dev/null. A process group of its own
	// lets the timeout kill the whole pipeline, not just the shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		r.log.Warn("shell command killed after timeout", "command", command, "timeout", r.timeout.String())
	case err != nil:
		if _, exited := err.(*exec.ExitError); exited {
			r.log.Info("shell command failed", "command", command, "err", err)
		} else {
			r.log.Error("Cannot execute shell command", "command", command, "err", err)
		}
	}
}
