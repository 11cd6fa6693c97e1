package socksify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Options configure Run.
type Options struct {
	Router *Router
	// Stdin, Stdout, Stderr are the program's; nil means this process's.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Timeout bounds one connect through the chain (first hop and every
	// handshake); 0 means 2 minutes, 4.3's.
	Timeout time.Duration
	// Preload is the LD_PRELOAD wrapper (libsockswrap.so) to fall back on
	// where the kernel has no seccomp user notification; "" means none.
	Preload string
	// Env is extra environment for the program (the fallback's settings).
	Env []string
	// Bind makes a program's bind to port 0 of a non-loopback address,
	// then listen and accept, one SOCKS BIND (the FTP active-mode
	// pattern); off, listeners stay local.
	Bind bool
}

// ErrNoUserNotif wraps the reason the kernel cannot supervise connects.
var ErrNoUserNotif = errors.New("seccomp user notification is not available")

// Run runs argv with its TCP connects sent through the router and returns
// its exit status (128+N for a signal N). An error means the program did
// not run.
func Run(ctx context.Context, o Options, argv []string) (int, error) {
	if len(argv) == 0 {
		return 0, errors.New("no program")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return 0, err
	}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	if os.Getenv(EnvNoSeccomp) != "" {
		return o.fallback(path, argv, self, EnvNoSeccomp+" is set")
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	mine, theirs := pair[0], os.NewFile(uintptr(pair[1]), "socksify")
	defer unix.Close(mine)

	cmd := exec.Command(self, append([]string{path}, argv...)...)
	mode := "1"
	if o.Bind {
		mode = "bind"
	}
	cmd.Env = append(append(os.Environ(), o.Env...), stubEnv+"="+mode)
	cmd.ExtraFiles = []*os.File{theirs}
	o.stdio(cmd)
	if err := cmd.Start(); err != nil {
		theirs.Close()
		return 0, err
	}
	theirs.Close()

	lfd, why := recvListener(mine)
	if lfd < 0 {
		cmd.Wait()
		return o.fallback(path, argv, self, why)
	}
	s := &supervisor{lfd: lfd, o: o, stop: make(chan struct{}), binds: map[bindKey]*bindState{}, lastPeer: map[int]netip.AddrPort{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.serve() }()
	code := wait(cmd)
	close(s.stop)
	wg.Wait()
	unix.Close(lfd)
	return code, nil
}

// EnvNoSeccomp makes Run use the LD_PRELOAD wrapper even where the kernel
// could supervise the program (a sandbox that forbids seccomp filters, or
// a test of the fallback).
const EnvNoSeccomp = "SOCKS_RUN_NO_SECCOMP"

// fallback runs the program under the LD_PRELOAD wrapper, saying why and
// what it cannot reach; the wrapper's helper is this binary.
func (o *Options) fallback(path string, argv []string, self, why string) (int, error) {
	err := fmt.Errorf("%w: %s", ErrNoUserNotif, why)
	switch {
	case why == EnvNoSeccomp+" is set":
	case strings.Contains(why, unix.EBUSY.Error()):
		err = fmt.Errorf("%w (the process is already supervised: a socks run or a container runtime holds the listener)", err)
	default:
		err = fmt.Errorf("%w (kernel %s; socks run needs Linux 5.9 or later)", err, kernelRelease())
	}
	if o.Preload == "" {
		return 0, err
	}
	fmt.Fprintf(o.stderr(), "socks run: %v; falling back to LD_PRELOAD=%s, which reaches dynamically linked programs only\n", err, o.Preload)
	if os.Getenv("SOCKS_WRAP_HELPER") == "" {
		o.Env = append(o.Env, "SOCKS_WRAP_HELPER="+self)
	}
	return o.runPreload(path, argv)
}

func (o *Options) stdio(cmd *exec.Cmd) {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, o.Stdout, o.Stderr
	if o.Stdin == nil {
		cmd.Stdin = os.Stdin
	}
	if o.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	cmd.Stderr = o.stderr()
}

func (o *Options) stderr() io.Writer {
	if o.Stderr == nil {
		return os.Stderr
	}
	return o.Stderr
}

func (o *Options) runPreload(path string, argv []string) (int, error) {
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	env := append(os.Environ(), o.Env...)
	if v := os.Getenv("LD_PRELOAD"); v != "" {
		env = append(env, "LD_PRELOAD="+o.Preload+":"+v)
	} else {
		env = append(env, "LD_PRELOAD="+o.Preload)
	}
	cmd.Env = env
	o.stdio(cmd)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	return wait(cmd), nil
}

// wait passes SIGTERM and SIGHUP on to the program and returns its exit
// status. SIGINT and SIGQUIT come from the terminal to the whole process
// group, the program included: they are caught here (so that this
// process outlives the program and reports its status) but not passed on
// a second time.
func wait(cmd *exec.Cmd) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGTERM || s == syscall.SIGHUP {
					cmd.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	cmd.Wait()
	close(done)
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// recvListener reads the stub's message: the notification descriptor, or
// (with -1) why there is none.
func recvListener(fd int) (int, string) {
	buf := make([]byte, 512)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, "receiving from the stub: " + err.Error()
		}
		if n == 0 {
			return -1, "the stub exited without a word"
		}
		if buf[0] == 'E' {
			return -1, string(buf[1:n])
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			return -1, "no descriptor from the stub"
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			return -1, "no descriptor from the stub"
		}
		return fds[0], ""
	}
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// supervisor answers the program's connects.
type supervisor struct {
	lfd  int
	o    Options
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	binds    map[bindKey]*bindState
	lastPeer map[int]netip.AddrPort // by process: the peer a BIND expects
}

// serve receives notifications until the program has exited (stop) or
// every task under the filter is gone (the descriptor hangs up).
func (s *supervisor) serve() {
	defer s.wg.Wait()
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		fds := []unix.PollFd{{Fd: int32(s.lfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(pollSlice/time.Millisecond))
		if err == unix.EINTR || (err == nil && n == 0) {
			continue
		}
		if err != nil {
			fmt.Fprintf(s.o.stderr(), "socks run: poll: %v\n", err)
			return
		}
		if fds[0].Revents&unix.POLLIN == 0 {
			if fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
				return
			}
			continue
		}
		note, err := recvNotif(s.lfd)
		if err != nil {
			continue // ENOENT: the caller was interrupted or died meanwhile
		}
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.handle(note) }()
	}
}

func (s *supervisor) logf(format string, args ...any) {
	if s.o.Router.Logf != nil {
		s.o.Router.Logf(format, args...)
	}
}

func (s *supervisor) handle(n seccompNotif) {
	switch n.Data.Nr {
	case unix.SYS_CONNECT:
		s.handleConnect(n)
	case unix.SYS_BIND:
		s.handleBind(n)
	case unix.SYS_LISTEN:
		s.handleListen(n)
	case unix.SYS_ACCEPT, unix.SYS_ACCEPT4:
		s.handleAccept(n)
	case unix.SYS_GETSOCKNAME:
		s.handleGetsockname(n)
	case unix.SYS_GETPEERNAME:
		s.handleGetpeername(n)
	default:
		s.letRun(n)
	}
}

// letRun lets the kernel run the program's call n itself.
func (s *supervisor) letRun(n seccompNotif) { answer(s.lfd, n.ID, 0, 0, true) }

// reply ends the program's call n without running it: with errno e, or
// with success when e is 0.
func (s *supervisor) reply(n seccompNotif, e unix.Errno) { answer(s.lfd, n.ID, 0, e, false) }

// opContext bounds one proxy operation done for the program (a connect,
// a BIND) by the configured timeout, two minutes when none is set.
func (s *supervisor) opContext() (context.Context, context.CancelFunc) {
	timeout := s.o.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	return context.WithTimeout(context.Background(), timeout)
}

func (s *supervisor) handleConnect(n seccompNotif) {
	args := n.Data.Args
	dst, ok := readSockaddr(int(n.Pid), args[1], args[2])
	if !idValid(s.lfd, n.ID) {
		return
	}
	if !ok {
		s.letRun(n) // not IP (AF_UNIX, AF_UNSPEC, ...) or unreadable: the kernel's own call says
		return
	}
	sfd, err := takeFD(s.lfd, n.ID, int(n.Pid), int(args[0]))
	if err != nil {
		if err != unix.ENOENT {
			fmt.Fprintf(s.o.stderr(), "socks run: connect to %s: cannot take the program's socket: %v\n", dst, err)
			s.reply(n, unix.EACCES)
		}
		return
	}
	defer unix.Close(sfd)
	if !isTCP(sfd) {
		s.letRun(n) // UDP (a DNS query), raw, SCTP: untouched
		return
	}
	if _, err := unix.Getpeername(sfd); err == nil {
		s.letRun(n) // already connected: the kernel answers EISCONN
		return
	}
	ctx, cancel := s.opContext()
	defer cancel()
	dec := s.o.Router.Decide(ctx, dst)
	s.logf("%s", describe(dst, dec))
	switch dec.Action {
	case Direct:
		s.letRun(n)
		return
	case Deny:
		s.reply(n, unix.ECONNREFUSED)
		return
	}
	c, err := s.o.Router.Connect(ctx, sfd, dst, dec)
	if err != nil {
		e := Errno(err)
		s.logf("%s: %v (%v)", dst, err, e)
		s.reply(n, e)
		return
	}
	s.logf("%s: connected via %s", dst, c.Path)
	if tgid, err := tgidOf(int(n.Pid)); err == nil {
		s.mu.Lock()
		s.lastPeer[tgid] = dst
		s.binds[bindKey{tgid, int(args[0])}] = &bindState{ino: inode(sfd), phase: proxied, peer: dst, bound: c.Bound, sfd: -1}
		s.sweepLocked()
		s.mu.Unlock()
	}
	// A non-blocking socket is told EINPROGRESS, as for any connect; it is
	// already connected, so it polls writable at once, SO_ERROR is 0, and
	// getpeername names the first server.
	fl, err := unix.FcntlInt(uintptr(sfd), unix.F_GETFL, 0)
	if err == nil && fl&unix.O_NONBLOCK != 0 {
		s.reply(n, unix.EINPROGRESS)
		return
	}
	s.reply(n, 0)
}

// maxRecords bounds the records of descriptors: a record is replaced when
// its number is reused, and past this many, those of processes that have
// exited are dropped.
const maxRecords = 4096

func (s *supervisor) sweepLocked() {
	if len(s.binds) <= maxRecords {
		return
	}
	alive := map[int]bool{}
	for k, st := range s.binds {
		live, seen := alive[k.tgid]
		if !seen {
			_, err := os.Stat("/proc/" + strconv.Itoa(k.tgid))
			live = err == nil
			alive[k.tgid] = live
		}
		if !live {
			if st.sfd >= 0 {
				unix.Close(st.sfd)
			}
			delete(s.binds, k)
			delete(s.lastPeer, k.tgid)
		}
	}
}

func isTCP(fd int) bool {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || typ != unix.SOCK_STREAM {
		return false
	}
	dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil || (dom != unix.AF_INET && dom != unix.AF_INET6) {
		return false
	}
	// Go listens with MPTCP by default since 1.24; it is TCP to a peer
	// that does not speak it, and so to a SOCKS server.
	proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	return err == nil && (proto == 0 || proto == unix.IPPROTO_TCP || proto == unix.IPPROTO_MPTCP)
}
