package main

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// sessionWarning says why an external server's figures are not comparable
// when Linux schedules it in another autogroup than the benchmark (one
// group per session: a server started under setsid or from another
// terminal), and "" when it shares ours, autogroups are off, or its
// process cannot be found. In another group it competes with the
// benchmark's clients as a group, not thread by thread, which cost a
// sockd here a quarter of its connection rate.
func sessionWarning(addr string) string {
	if !autogroupsOn() {
		return ""
	}
	pid, ok := listenerPID(addr)
	if !ok {
		return ""
	}
	theirs, ours := autogroup(strconv.Itoa(pid)), autogroup("self")
	if theirs == "" || ours == "" || theirs == ours {
		return ""
	}
	return fmt.Sprintf("process %d is in scheduling group %s, the benchmark in %s: start it from the benchmark's shell, without setsid, or its figures are not comparable", pid, theirs, ours)
}

// autogroupsOn says whether the kernel groups each session's processes
// for scheduling.
func autogroupsOn() bool {
	b, err := os.ReadFile("/proc/sys/kernel/sched_autogroup_enabled")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// autogroup is the name of a process's autogroup ("/autogroup-370"), ""
// if it cannot be read.
func autogroup(pid string) string {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "autogroup"))
	if err != nil {
		return ""
	}
	return autogroupName(string(b))
}

// autogroupName reads /proc/PID/autogroup. The kernel prints nothing for
// a process that no session leader has moved out of the root group, as
// is a service's child that never called setsid (a CI runner's, say):
// that is a group too, "/", and not an unknown one.
func autogroupName(text string) string {
	f := strings.Fields(text)
	if len(f) == 0 {
		return "/"
	}
	return f[0]
}

// listenerPID finds the process with a TCP socket listening on addr (or on
// the wildcard address at its port).
func listenerPID(addr string) (int, bool) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return 0, false
	}
	inode := ""
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if inode = listeningInode(table, ap); inode != "" {
			break
		}
	}
	if inode == "" {
		return 0, false
	}
	want := "socket:[" + inode + "]"
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && l == want {
			pid, err := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid, err == nil
		}
	}
	return 0, false
}

// listeningInode returns the inode of the socket listening on ap in one
// of /proc/net/tcp's tables, "" if none.
func listeningInode(table string, ap netip.AddrPort) string {
	f, err := os.Open(table)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
			continue
		}
		local, ok := parseProcAddr(fields[1])
		if ok && local.Port() == ap.Port() && (local.Addr().IsUnspecified() || local.Addr().Unmap() == ap.Addr().Unmap()) {
			return fields[9]
		}
	}
	return ""
}

// parseProcAddr reads /proc/net/tcp's "0100007F:5368": the address as
// 32-bit words in the machine's byte order, the port in hexadecimal.
func parseProcAddr(s string) (netip.AddrPort, bool) {
	h, p, ok := strings.Cut(s, ":")
	raw, err := hex.DecodeString(h)
	port, perr := strconv.ParseUint(p, 16, 16)
	if !ok || err != nil || perr != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.NativeEndian.Uint32(raw[i:]))
	}
	a, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(a, uint16(port)), true
}
