package server

import (
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"syscall"
	"time"

	"github.com/sockd/sockd/internal/diag"
)

func diagList(err error) (l diag.List, ok bool) { ok = errors.As(err, &l); return l, ok }

// commandRunner runs the shell commands of the rules (already expanded and
// sanitised by the policy) the way 4.3 did, "/bin/sh -c CMD" with
// /dev/null as stdin, stdout and stderr, but in the background: 4.3 waited
// for the command, so a slow command stalled the request. At most max
// commands run at once; a command beyond that is logged and dropped rather
// than queued, so a flood of refused clients cannot pile up processes.
type commandRunner struct {
	slots   chan struct{}
	timeout time.Duration
	log     *slog.Logger
}

func newCommandRunner(max int, timeout time.Duration, log *slog.Logger) *commandRunner {
	return &commandRunner{slots: make(chan struct{}, max), timeout: timeout, log: log}
}

// run starts cmds, one after the other in a single background job (the
// #NO_IDENTD: command before the line's own, as 4.3 ran them), and returns
// at once. done, if not nil, is called when the job ends (tests).
func (r *commandRunner) run(cmds []string, done func()) {
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

func (r *commandRunner) runOne(command string) {
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
