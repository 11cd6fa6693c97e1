package socksify

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's struct seccomp_data, seccomp_notif and seccomp_notif_resp
// (linux/seccomp.h), which x/sys/unix does not declare.
type seccompData struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  seccompData
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// auditArch is the AUDIT_ARCH_* of this build's system call ABI: calls of
// another ABI (a 32-bit program on a 64-bit kernel) are let through, since
// their numbers differ.
var auditArch = map[string]uint32{
	"amd64":   unix.AUDIT_ARCH_X86_64,
	"arm64":   unix.AUDIT_ARCH_AARCH64,
	"riscv64": unix.AUDIT_ARCH_RISCV64,
	"ppc64le": unix.AUDIT_ARCH_PPC64LE,
	"s390x":   unix.AUDIT_ARCH_S390X,
	"loong64": unix.AUDIT_ARCH_LOONGARCH64,
}[runtime.GOARCH]

// filter sends the calls nrs of the native ABI to the supervisor and
// allows everything else.
func filter(nrs []uint32) []unix.SockFilter {
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	n := len(nrs)
	f := []unix.SockFilter{
		{Code: ld, K: 4}, // seccomp_data.arch
		{Code: jeq, Jt: 0, Jf: uint8(n + 1), K: auditArch}, // another ABI: allow
		{Code: ld, K: 0}, // seccomp_data.nr
	}
	for i, nr := range nrs {
		f = append(f, unix.SockFilter{Code: jeq, Jt: uint8(n - i), Jf: 0, K: nr})
	}
	return append(f,
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_USER_NOTIF})
}

// supervised are the calls Run answers: connect and getpeername (which
// names the destination of a proxied connect), and with BIND the calls of
// a listening socket.
func supervised(bind bool) []uint32 {
	if !bind {
		return []uint32{unix.SYS_CONNECT, unix.SYS_GETPEERNAME}
	}
	return []uint32{unix.SYS_CONNECT, unix.SYS_GETPEERNAME, unix.SYS_BIND, unix.SYS_LISTEN, unix.SYS_ACCEPT, unix.SYS_ACCEPT4, unix.SYS_GETSOCKNAME}
}

// installFilter installs the filter on the calling thread (which must be
// locked to its goroutine and must be the one that execs) and returns the
// notification descriptor. WAIT_KILLABLE_RECV keeps a connect that the
// supervisor has already taken from being interrupted by an ordinary
// signal (Go programs receive SIGURG all the time).
func installFilter(bind bool) (int, error) {
	if auditArch == 0 {
		return -1, fmt.Errorf("socks run does not know the system call ABI of %s", runtime.GOARCH)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	f := filter(supervised(bind))
	prog := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
	flags := uintptr(unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
	for {
		fd, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&prog)))
		if e == unix.EINVAL && flags&unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 {
			flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV // before Linux 5.19
			continue
		}
		runtime.KeepAlive(f)
		if e != 0 {
			return -1, fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER): %w", e)
		}
		return int(fd), nil
	}
}

func ioctlPtr(fd int, req uintptr, p unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(p))
	if e != 0 {
		return e
	}
	return nil
}

// recvNotif takes the next notification; the kernel wants it zeroed.
func recvNotif(lfd int) (seccompNotif, error) {
	var n seccompNotif
	err := ioctlPtr(lfd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&n))
	return n, err
}

// idValid says whether the call id is still waiting: the task has not been
// killed nor interrupted, so its pid and memory are still the caller's.
func idValid(lfd int, id uint64) bool {
	return ioctlPtr(lfd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil
}

// answer ends the call: with errno e, with val, or (cont) by letting the
// kernel run the call itself. ENOENT means the caller is gone.
func answer(lfd int, id uint64, val int64, e unix.Errno, cont bool) error {
	r := seccompNotifResp{ID: id, Val: val}
	if e != 0 {
		r.Error = -int32(e)
	}
	if cont {
		r.Flags = unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE
	}
	return ioctlPtr(lfd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// readSockaddr reads the address a connect(2) names from the caller's
// memory; ok is false for anything but a whole AF_INET or AF_INET6
// address.
func readSockaddr(pid int, ptr, n uint64) (netip.AddrPort, bool) {
	if ptr == 0 || n < 2 {
		return netip.AddrPort{}, false
	}
	buf := make([]byte, min(n, 128))
	local := []unix.Iovec{{Base: &buf[0], Len: uint64(len(buf))}}
	remote := []unix.RemoteIovec{{Base: uintptr(ptr), Len: len(buf)}}
	got, err := unix.ProcessVMReadv(pid, local, remote, 0)
	if err != nil || got != len(buf) {
		return netip.AddrPort{}, false
	}
	return ParseSockaddr(buf)
}

// tgidOf is the process of thread tid: pidfd_open wants a process, and a
// Go program connects from any of its threads.
func tgidOf(tid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, errors.New("no Tgid in /proc/" + strconv.Itoa(tid) + "/status")
}

// takeFD duplicates descriptor fd of the caller tid into this process,
// checking that the call is still waiting once the process is pinned.
func takeFD(lfd int, id uint64, tid, fd int) (int, error) {
	tgid, err := tgidOf(tid)
	if err != nil {
		return -1, err
	}
	pidfd, err := unix.PidfdOpen(tgid, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd_open: %w", err)
	}
	defer unix.Close(pidfd)
	if !idValid(lfd, id) {
		return -1, unix.ENOENT
	}
	sfd, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd_getfd: %w", err)
	}
	return sfd, nil
}
