package supervisor

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/sockd/sockd/internal/logline"
)

// ExecStarter starts each worker as a copy of this program: Exe run as
// Argv0 with Args, in Env plus the worker's description (EnvName), with
// the descriptors worker.go reads: the control socket, the log file, the
// listeners. It is used by the supervisor's loop only.
type ExecStarter struct {
	Exe, Argv0     string
	Args, Env      []string
	Listeners      []*os.File // shared by every worker; Close closes them
	LogPath        string     // --log-file, "" without
	Stdout, Stderr io.Writer

	logFile *os.File
}

// OpenLog opens LogPath for the workers (the supervisor does it while
// still root, if --user is given: the workers start as that user).
func (x *ExecStarter) OpenLog() error {
	if x.LogPath == "" {
		return nil
	}
	lf, err := logline.OpenAppend(x.LogPath)
	if err != nil {
		return err
	}
	x.logFile = lf
	return nil
}

// ReopenLog gives the workers started from now on the file LogPath now
// names (logrotate moved the old one); on failure they keep the old one.
func (x *ExecStarter) ReopenLog() {
	if x.logFile == nil {
		return
	}
	if lf, err := logline.OpenAppend(x.LogPath); err == nil {
		x.logFile.Close()
		x.logFile = lf
	}
}

// Close closes the supervisor's copies of the shared files.
func (x *ExecStarter) Close() {
	for _, f := range x.Listeners {
		f.Close()
	}
	if x.logFile != nil {
		x.logFile.Close()
	}
}

// Start starts the worker of slot index.
func (x *ExecStarter) Start(index, workers int, ev Events) (Process, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("worker %d: control socket: %w", index, err)
	}
	mine := os.NewFile(uintptr(fds[0]), "worker control")
	theirs := os.NewFile(uintptr(fds[1]), "worker control")
	defer theirs.Close()
	ctl, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return nil, fmt.Errorf("worker %d: control socket: %w", index, err)
	}
	spec := Spec{Index: index, Workers: workers, Listeners: len(x.Listeners), LogFile: x.logFile != nil}
	c := exec.Command(x.Exe)
	c.Args = append([]string{x.Argv0}, x.Args...)
	c.Env = append(x.Env[:len(x.Env):len(x.Env)], EnvName+"="+spec.String())
	c.ExtraFiles = []*os.File{theirs} // fd 3, the order worker.go expects
	if x.logFile != nil {
		c.ExtraFiles = append(c.ExtraFiles, x.logFile)
	}
	c.ExtraFiles = append(c.ExtraFiles, x.Listeners...)
	c.Stdout, c.Stderr = x.Stdout, x.Stderr
	// A process group of its own: a terminal's Ctrl-C reaches only the
	// supervisor, which stops the workers in order, rather than every
	// worker at once and then again from the supervisor.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		ctl.Close()
		return nil, fmt.Errorf("worker %d: %w", index, err)
	}
	go func() {
		sc := bufio.NewScanner(ctl)
		for sc.Scan() {
			ev.Line(sc.Text())
		}
	}()
	go func() {
		err := c.Wait()
		ctl.Close()
		status := "unknown"
		if c.ProcessState != nil {
			status = c.ProcessState.String()
		} else if err != nil {
			status = err.Error()
		}
		ev.Exited(status)
	}()
	return &execProcess{cmd: c, ctl: ctl}, nil
}

type execProcess struct {
	cmd *exec.Cmd
	ctl net.Conn
}

func (p *execProcess) Pid() int                        { return p.cmd.Process.Pid }
func (p *execProcess) Signal(sig syscall.Signal) error { return syscall.Kill(p.cmd.Process.Pid, sig) }
func (p *execProcess) Kill() error                     { return p.cmd.Process.Kill() }

func (p *execProcess) Tell(msg string) error {
	_, err := io.WriteString(p.ctl, msg+"\n")
	return err
}

// Environ is this process's environment without what belongs to the
// supervisor alone: systemd's notification socket (only the main process
// may notify), socket activation variables, and a worker description.
func Environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", EnvName:
			continue
		}
		env = append(env, kv)
	}
	return env
}

// ListenerFile is a copy of ln's socket to pass to the workers.
func ListenerFile(ln net.Listener) (*os.File, error) {
	fl, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("listener %s cannot be passed to workers", ln.Addr())
	}
	f, err := fl.File()
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", ln.Addr(), err)
	}
	return f, nil
}
