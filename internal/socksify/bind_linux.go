package socksify

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/socks"
)

// A BIND under `socks run --bind`: the program's bind to port 0 of a
// non-loopback address is recorded and answered without binding; its
// listen sends the BIND request on the program's socket; getsockname
// names where the server listens; accept reads the server's second reply
// and hands the program the connection as a new descriptor
// (SECCOMP_IOCTL_NOTIF_ADDFD), while the listening descriptor is replaced
// by a loopback listener that nobody is told of, so that a second accept
// waits as on a quiet listener: one connection per BIND.

type bindKey struct{ tgid, fd int }

const (
	bindPending = iota
	bindListening
	bindConnection // the accepted connection: getsockname gives the bound address
	proxied        // a connect through the chain: getpeername gives the destination

	anyPhase = -1 // for stateIn: a call that a socket in every phase concerns
)

type bindState struct {
	ino    uint64 // the socket's inode: a descriptor number can be reused
	local  []byte // the program's sockaddr, for a BIND that turns out direct
	phase  int
	bound  socks.Addr
	peer   netip.AddrPort // the destination of a proxied connect, the peer of a BIND
	second func() (socks.Addr, error)
	sfd    int // our duplicate of a listening socket, for the second reply
}

// struct seccomp_notif_addfd (linux/seccomp.h).
type seccompNotifAddfd struct {
	ID         uint64
	Flags      uint32
	Srcfd      uint32
	Newfd      uint32
	NewfdFlags uint32
}

// _IOW('!', 3, struct seccomp_notif_addfd)
const seccompIoctlNotifAddfd = 0x40182103

func addFD(lfd int, a *seccompNotifAddfd) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(lfd), seccompIoctlNotifAddfd, uintptr(unsafe.Pointer(a)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

func inode(fd int) uint64 {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0
	}
	return st.Ino
}

func readMem(pid int, ptr uint64, n int) ([]byte, bool) {
	if ptr == 0 || n <= 0 {
		return nil, false
	}
	buf := make([]byte, n)
	local := []unix.Iovec{{Base: &buf[0], Len: uint64(n)}}
	remote := []unix.RemoteIovec{{Base: uintptr(ptr), Len: n}}
	got, err := unix.ProcessVMReadv(pid, local, remote, 0)
	return buf, err == nil && got == n
}

func writeMem(pid int, ptr uint64, b []byte) bool {
	if ptr == 0 || len(b) == 0 {
		return len(b) == 0
	}
	local := []unix.Iovec{{Base: &b[0], Len: uint64(len(b))}}
	remote := []unix.RemoteIovec{{Base: uintptr(ptr), Len: len(b)}}
	got, err := unix.ProcessVMWritev(pid, local, remote, 0)
	return err == nil && got == len(b)
}

// giveSockaddr writes ap to the program's (addr, *len) as the kernel
// does: truncated to *len, *len set to the full size.
func giveSockaddr(pid int, addrPtr, lenPtr uint64, domain int, ap netip.AddrPort) bool {
	if addrPtr == 0 || lenPtr == 0 {
		return true
	}
	lb, ok := readMem(pid, lenPtr, 4)
	if !ok {
		return false
	}
	room := int(binary.NativeEndian.Uint32(lb))
	b := AppendSockaddr(nil, domain, ap)
	if !writeMem(pid, addrPtr, b[:min(room, len(b))]) {
		return false
	}
	return writeMem(pid, lenPtr, binary.NativeEndian.AppendUint32(nil, uint32(len(b))))
}

// find finds the BIND state of the caller's descriptor, taking a
// duplicate of it; the caller closes sfd.
func (s *supervisor) find(n seccompNotif) (key bindKey, st *bindState, sfd int, ok bool) {
	tgid, err := tgidOf(int(n.Pid))
	if err != nil {
		return bindKey{}, nil, -1, false
	}
	key = bindKey{tgid, int(n.Data.Args[0])}
	s.mu.Lock()
	st = s.binds[key]
	s.mu.Unlock()
	if st == nil {
		return key, nil, -1, false
	}
	sfd, err = takeFD(s.lfd, n.ID, int(n.Pid), key.fd)
	if err != nil {
		return key, nil, -1, false
	}
	if inode(sfd) != st.ino {
		unix.Close(sfd)
		s.forget(key)
		return key, nil, -1, false
	}
	return key, st, sfd, true
}

// stateIn is find for a call that only a socket in phase (or anyPhase)
// concerns. A call on any other descriptor is none of ours: stateIn closes
// the descriptor it took, lets the kernel run the call, and reports !ok.
func (s *supervisor) stateIn(n seccompNotif, phase int) (bindKey, *bindState, int, bool) {
	key, st, sfd, ok := s.find(n)
	if ok && phase != anyPhase && st.phase != phase {
		unix.Close(sfd)
		ok = false
	}
	if !ok {
		s.letRun(n)
		return key, nil, -1, false
	}
	return key, st, sfd, true
}

// forget drops the state kept for key.
func (s *supervisor) forget(key bindKey) {
	s.mu.Lock()
	delete(s.binds, key)
	s.mu.Unlock()
}

func (s *supervisor) handleBind(n seccompNotif) {
	args := n.Data.Args
	raw, ok := readMem(int(n.Pid), args[1], int(min(args[2], 128)))
	if !ok || !idValid(s.lfd, n.ID) {
		s.letRun(n)
		return
	}
	ap, ok := ParseSockaddr(raw)
	if !ok || ap.Port() != 0 || ap.Addr().IsLoopback() {
		s.letRun(n) // a chosen port is a server's, loopback is local
		return
	}
	tgid, err := tgidOf(int(n.Pid))
	if err != nil {
		s.letRun(n)
		return
	}
	sfd, err := takeFD(s.lfd, n.ID, int(n.Pid), int(args[0]))
	if err != nil {
		s.letRun(n)
		return
	}
	defer unix.Close(sfd)
	if !isTCP(sfd) {
		s.letRun(n)
		return
	}
	s.mu.Lock()
	s.binds[bindKey{tgid, int(args[0])}] = &bindState{ino: inode(sfd), local: raw, phase: bindPending, sfd: -1}
	s.mu.Unlock()
	s.logf("bind %s: deferred to listen (BIND)", ap)
	s.reply(n, 0)
}

func (s *supervisor) handleListen(n seccompNotif) {
	key, st, sfd, ok := s.stateIn(n, bindPending)
	if !ok {
		return
	}
	s.mu.Lock()
	peer, known := s.lastPeer[key.tgid]
	s.mu.Unlock()
	if !known {
		peer = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	ctx, cancel := s.opContext()
	defer cancel()
	b, err := s.o.Router.BindFD(ctx, sfd, peer)
	if err == ErrDirectBind {
		// Bind as the program asked, on its socket; the kernel then
		// runs its listen.
		s.forget(key)
		_, _, e := unix.Syscall(unix.SYS_BIND, uintptr(sfd), uintptr(unsafe.Pointer(&st.local[0])), uintptr(len(st.local)))
		unix.Close(sfd)
		if e != 0 {
			s.reply(n, e)
			return
		}
		s.letRun(n)
		return
	}
	if err != nil {
		unix.Close(sfd)
		s.forget(key)
		s.logf("BIND for %s: %v", peer, err)
		s.reply(n, Errno(err))
		return
	}
	s.mu.Lock()
	st.phase, st.bound, st.second, st.sfd = bindListening, b.Bound, b.Second, sfd
	s.mu.Unlock()
	s.logf("BIND for %s: the server listens on %s", peer, b.Bound)
	s.reply(n, 0)
}

func (s *supervisor) handleGetsockname(n seccompNotif) {
	_, st, sfd, ok := s.stateIn(n, anyPhase)
	if !ok {
		return
	}
	defer unix.Close(sfd)
	ap, valid := st.bound.AddrPort()
	if st.phase == bindPending || st.phase == proxied || !valid {
		s.letRun(n)
		return
	}
	dom, _ := unix.GetsockoptInt(sfd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if !giveSockaddr(int(n.Pid), n.Data.Args[1], n.Data.Args[2], dom, ap) {
		s.reply(n, unix.EFAULT)
		return
	}
	s.reply(n, 0)
}

func (s *supervisor) handleAccept(n seccompNotif) {
	key, st, tmp, ok := s.stateIn(n, bindListening)
	if !ok {
		return
	}
	unix.Close(tmp)
	sfd := st.sfd
	if fl, err := unix.FcntlInt(uintptr(sfd), unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK != 0 {
		// The second reply makes the socket readable: until then there
		// is nothing to accept.
		if k, _ := unix.Poll([]unix.PollFd{{Fd: int32(sfd), Events: unix.POLLIN}}, 0); k == 0 {
			s.reply(n, unix.EAGAIN)
			return
		}
	}
	peer, err := st.second()
	if err != nil {
		s.reply(n, Errno(err))
		return
	}
	pap, _ := peer.AddrPort()
	dom, _ := unix.GetsockoptInt(sfd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	q, err := quietListener(dom, sfd)
	if err != nil {
		s.reply(n, unix.EMFILE)
		return
	}
	_, err = addFD(s.lfd, &seccompNotifAddfd{ID: n.ID, Flags: unix.SECCOMP_ADDFD_FLAG_SETFD, Srcfd: uint32(q), Newfd: uint32(key.fd)})
	unix.Close(q)
	if err != nil {
		s.reply(n, unix.ECONNABORTED)
		return
	}
	var flags uint64
	if n.Data.Nr == unix.SYS_ACCEPT4 {
		flags = n.Data.Args[3]
	}
	unix.SetNonblock(sfd, flags&unix.SOCK_NONBLOCK != 0)
	giveSockaddr(int(n.Pid), n.Data.Args[1], n.Data.Args[2], dom, pap)
	var nflags uint32
	if flags&unix.SOCK_CLOEXEC != 0 {
		nflags = unix.O_CLOEXEC
	}
	ino := inode(sfd)
	nfd, err := addFD(s.lfd, &seccompNotifAddfd{ID: n.ID, Flags: unix.SECCOMP_ADDFD_FLAG_SEND, Srcfd: uint32(sfd), NewfdFlags: nflags})
	unix.Close(sfd)
	s.mu.Lock()
	delete(s.binds, key)
	if err == nil {
		s.binds[bindKey{key.tgid, nfd}] = &bindState{ino: ino, phase: bindConnection, bound: st.bound, peer: pap, sfd: -1}
	}
	s.mu.Unlock()
	if err != nil {
		s.reply(n, unix.ECONNABORTED)
		return
	}
	s.logf("BIND: connection from %s", pap)
}

// quietListener is a socket of domain listening on a loopback port that
// nobody is told of, non-blocking as like is.
func quietListener(domain, like int) (int, error) {
	q, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	var sa unix.Sockaddr = &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if domain == unix.AF_INET6 {
		sa = &unix.SockaddrInet6{Addr: netip.IPv6Loopback().As16()}
	}
	if err := unix.Bind(q, sa); err != nil {
		unix.Close(q)
		return -1, err
	}
	if err := unix.Listen(q, 1); err != nil {
		unix.Close(q)
		return -1, err
	}
	if fl, err := unix.FcntlInt(uintptr(like), unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK != 0 {
		unix.SetNonblock(q, true)
	}
	return q, nil
}

// handleGetpeername names the destination the program connected to, not
// the first server its socket is connected to (and a BIND's peer).
func (s *supervisor) handleGetpeername(n seccompNotif) {
	_, st, sfd, ok := s.stateIn(n, anyPhase)
	if !ok {
		return
	}
	defer unix.Close(sfd)
	if (st.phase != proxied && st.phase != bindConnection) || !st.peer.IsValid() {
		s.letRun(n)
		return
	}
	dom, _ := unix.GetsockoptInt(sfd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if !giveSockaddr(int(n.Pid), n.Data.Args[1], n.Data.Args[2], dom, st.peer) {
		s.reply(n, unix.EFAULT)
		return
	}
	s.reply(n, 0)
}
