// Command libsocks is the C library of the Courier Socks 5 API (socks.h,
// -lsocks), built from the Go client:
//
//	go build -buildmode=c-shared -o libsocks.so ./lib/libsocks
//	go build -buildmode=c-archive -o libsocks.a ./lib/libsocks
//
// (`make lib` does both). Rconnect, Rbind, Rlisten, Raccept, Rgetsockname,
// Rgetpeername and Rclose are defined here; socks.h maps the other sixteen
// names of the API to the plain calls. Descriptors that are not IPv4 or
// IPv6 TCP sockets go to the plain call untouched. The routes come from
// SOCKS_PROXY, or SOCKS_CONF, /etc/socks.fc, /etc/socks.conf (see
// docs/libsocks.md).
//
// A process that forks without exec must not call into the library in the
// child: the Go runtime does not survive fork. Programs that do should use
// libsockswrap, which is plain C.
package main

/*
#include <errno.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <unistd.h>

static void socks_set_errno(int e) { errno = e; }
*/
import "C"

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/internal/socksify"
	"github.com/sockd/sockd/socks"
)

func main() {}

// opTimeout bounds one connect or BIND request through the chain (4.3's
// two minutes).
const opTimeout = 2 * time.Minute

var (
	routerOnce sync.Once
	router     *socksify.Router
	routerErr  error
)

// getRouter reads the configuration once; a broken file is reported once
// on stderr and fails every proxied call (never a silent direct
// connection).
func getRouter() (*socksify.Router, error) {
	routerOnce.Do(func() {
		router, routerErr = socksify.FromEnv()
		if routerErr != nil {
			fmt.Fprintf(os.Stderr, "libsocks: %v\n", routerErr)
		}
		if router != nil && os.Getenv("SOCKS_DEBUG") != "" {
			router.Logf = func(format string, a ...any) { fmt.Fprintf(os.Stderr, "libsocks: "+format+"\n", a...) }
		}
	})
	return router, routerErr
}

// proxiedCall starts a call that goes through the chain (a connect, a
// BIND): the router, and a context bounded by opTimeout that the caller
// cancels. It fails, with no context, when there is no router.
func proxiedCall() (*socksify.Router, context.Context, context.CancelFunc, error) {
	r, err := getRouter()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	return r, ctx, cancel, nil
}

// state is what the library knows of a proxied socket.
type state struct {
	ino    uint64         // the socket's inode: a descriptor closed with plain close(2) is not ours
	peer   netip.AddrPort // the destination asked for (Rgetpeername)
	bound  socks.Addr     // what the last server reported (Rgetsockname)
	local  []byte         // Rbind's address, for a BIND that turns out direct
	second func() (socks.Addr, error)
	phase  int
}

const (
	connected = iota
	bindPending
	listening
	acceptedOnce
)

var (
	mu     sync.Mutex
	states = map[int]*state{}
)

func inode(fd int) uint64 {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0
	}
	return st.Ino
}

// lookup is fd's state if fd is still the socket it was recorded for.
func lookup(fd int) *state {
	mu.Lock()
	s := states[fd]
	mu.Unlock()
	if s != nil && s.ino != inode(fd) {
		store(fd, nil)
		return nil
	}
	return s
}

func store(fd int, s *state) {
	if s != nil {
		s.ino = inode(fd)
	}
	mu.Lock()
	defer mu.Unlock()
	if s == nil {
		delete(states, fd)
	} else {
		states[fd] = s
	}
}

// pass returns a plain call's result with its errno set again: Go code
// runs between the call and the return to C.
func pass(rc C.int, err error) C.int {
	if e, ok := err.(syscall.Errno); ok && rc < 0 {
		C.socks_set_errno(C.int(e))
	}
	return rc
}

func fail(e unix.Errno) C.int {
	C.socks_set_errno(C.int(e))
	return -1
}

func sockaddrBytes(addr *C.struct_sockaddr, n C.socklen_t) []byte {
	if addr == nil || n <= 0 {
		return nil
	}
	return C.GoBytes(unsafe.Pointer(addr), C.int(n))
}

func nonBlocking(fd int) bool {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	return err == nil && fl&unix.O_NONBLOCK != 0
}

//export Rconnect
func Rconnect(fd C.int, addr *C.struct_sockaddr, n C.socklen_t) C.int {
	ap, ok := socksify.ParseSockaddr(sockaddrBytes(addr, n))
	if !ok || !socksify.IsTCP(int(fd)) {
		rc, err := C.connect(fd, addr, n)
		return pass(rc, err)
	}
	if _, err := unix.Getpeername(int(fd)); err == nil {
		return fail(unix.EISCONN)
	}
	if s := lookup(int(fd)); s != nil && s.phase == bindPending {
		// Rbind before Rconnect chose a source address: bind it for real
		// (a SOCKS server cannot connect from a chosen port).
		store(int(fd), nil)
		p := unsafe.Pointer(&s.local[0])
		if rc, err := C.bind(fd, (*C.struct_sockaddr)(p), C.socklen_t(len(s.local))); rc != 0 {
			return pass(rc, err)
		}
	}
	r, ctx, cancel, err := proxiedCall()
	if err != nil {
		return fail(unix.ECONNREFUSED)
	}
	defer cancel()
	dec := r.Decide(ctx, ap)
	switch dec.Action {
	case socksify.Direct:
		rc, err := C.connect(fd, addr, n)
		return pass(rc, err)
	case socksify.Deny:
		return fail(unix.ECONNREFUSED)
	}
	c, err := r.Connect(ctx, int(fd), ap, dec)
	if err != nil {
		if r.Logf != nil {
			r.Logf("%s: %v", ap, err)
		}
		return fail(socksify.Errno(err))
	}
	store(int(fd), &state{peer: ap, bound: c.Bound, phase: connected})
	// The handshake is done before Rconnect returns; a non-blocking socket
	// is told EINPROGRESS as usual and polls writable at once.
	if nonBlocking(int(fd)) {
		return fail(unix.EINPROGRESS)
	}
	return 0
}

//export Rbind
func Rbind(fd C.int, addr *C.struct_sockaddr, n C.socklen_t) C.int {
	b := sockaddrBytes(addr, n)
	ap, ok := socksify.ParseSockaddr(b)
	if !ok || !socksify.IsTCP(int(fd)) || ap.Addr().IsLoopback() {
		rc, err := C.bind(fd, addr, n) // a loopback listener is meant to be local
		return pass(rc, err)
	}
	if _, err := getRouter(); err != nil {
		return fail(unix.EADDRNOTAVAIL)
	}
	// The BIND request is sent by Rlisten; the server chooses the port.
	store(int(fd), &state{local: b, phase: bindPending})
	return 0
}

//export Rlisten
func Rlisten(fd C.int, backlog C.int) C.int {
	s := lookup(int(fd))
	if s == nil || s.phase != bindPending {
		rc, err := C.listen(fd, backlog)
		return pass(rc, err)
	}
	r, ctx, cancel, err := proxiedCall()
	if err != nil {
		return fail(unix.ECONNREFUSED)
	}
	defer cancel()
	peer := netip.AddrPortFrom(netip.IPv4Unspecified(), 0) // any peer
	b, err := r.BindFD(ctx, int(fd), peer)
	if err == socksify.ErrDirectBind {
		store(int(fd), nil)
		p := unsafe.Pointer(&s.local[0])
		if rc, err := C.bind(fd, (*C.struct_sockaddr)(p), C.socklen_t(len(s.local))); rc != 0 {
			return pass(rc, err)
		}
		rc, err := C.listen(fd, backlog)
		return pass(rc, err)
	}
	if err != nil {
		return fail(socksify.Errno(err))
	}
	store(int(fd), &state{bound: b.Bound, second: b.Second, phase: listening})
	return 0
}

//export Raccept
func Raccept(fd C.int, addr *C.struct_sockaddr, n *C.socklen_t) C.int {
	s := lookup(int(fd))
	if s == nil || s.phase != listening {
		rc, err := C.accept(fd, addr, n)
		return pass(rc, err)
	}
	if nonBlocking(int(fd)) {
		// The second reply makes the socket readable: until then there
		// is nothing to accept.
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if k, _ := unix.Poll(fds, 0); k == 0 {
			return fail(unix.EAGAIN)
		}
	}
	peer, err := s.second()
	if err != nil {
		return fail(socksify.Errno(err))
	}
	nfd, err := unix.Dup(int(fd))
	if err != nil {
		return fail(err.(unix.Errno))
	}
	// The listening descriptor now names a socket that nobody will ever
	// connect to: SOCKS gives one connection per BIND, and a program that
	// keeps accepting waits as it would on a quiet listener.
	if err := quietListener(int(fd)); err != nil {
		unix.Close(nfd)
		return fail(err.(unix.Errno))
	}
	pap, _ := peer.AddrPort()
	store(int(fd), &state{phase: acceptedOnce})
	store(nfd, &state{peer: pap, bound: s.bound, phase: connected})
	if addr != nil && n != nil {
		fillSockaddr(nfd, pap, addr, n)
	}
	return C.int(nfd)
}

// quietListener replaces fd by a socket listening on a loopback port that
// is told to nobody, keeping fd's O_NONBLOCK and FD_CLOEXEC.
func quietListener(fd int) error {
	dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return err
	}
	q, err := unix.Socket(dom, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(q)
	var sa unix.Sockaddr = &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if dom == unix.AF_INET6 {
		sa = &unix.SockaddrInet6{Addr: netip.IPv6Loopback().As16()}
	}
	if err := unix.Bind(q, sa); err != nil {
		return err
	}
	if err := unix.Listen(q, 1); err != nil {
		return err
	}
	if nonBlocking(fd) {
		unix.SetNonblock(q, true)
	}
	flags := 0
	if fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && fdfl&unix.FD_CLOEXEC != 0 {
		flags = unix.O_CLOEXEC
	}
	return unix.Dup3(q, fd, flags)
}

// fillSockaddr writes ap into the caller's buffer as getsockname(2) does:
// truncated to *n, *n set to the full length.
func fillSockaddr(fd int, ap netip.AddrPort, addr *C.struct_sockaddr, n *C.socklen_t) {
	dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		dom = unix.AF_INET6
	}
	b := socksify.AppendSockaddr(nil, dom, ap)
	dst := unsafe.Slice((*byte)(unsafe.Pointer(addr)), int(*n))
	copy(dst, b)
	*n = C.socklen_t(len(b))
}

//export Rgetsockname
func Rgetsockname(fd C.int, addr *C.struct_sockaddr, n *C.socklen_t) C.int {
	s := lookup(int(fd))
	if s == nil || s.phase == bindPending || s.phase == acceptedOnce {
		rc, err := C.getsockname(fd, addr, n)
		return pass(rc, err)
	}
	ap, ok := s.bound.AddrPort()
	if !ok || addr == nil || n == nil {
		rc, err := C.getsockname(fd, addr, n)
		return pass(rc, err)
	}
	fillSockaddr(int(fd), ap, addr, n)
	return 0
}

//export Rgetpeername
func Rgetpeername(fd C.int, addr *C.struct_sockaddr, n *C.socklen_t) C.int {
	s := lookup(int(fd))
	if s == nil || s.phase != connected || !s.peer.IsValid() || addr == nil || n == nil {
		rc, err := C.getpeername(fd, addr, n)
		return pass(rc, err)
	}
	fillSockaddr(int(fd), s.peer, addr, n)
	return 0
}

//export Rclose
func Rclose(fd C.int) C.int {
	store(int(fd), nil)
	rc, err := C.close(fd)
	return pass(rc, err)
}
