//go:build unix

package netfd

import (
	"net"
	"net/netip"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/internal/testnet"
)

func TestSockaddrRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ap     string
		family int
		want   string
	}{
		{"192.0.2.1:80", unix.AF_INET, "192.0.2.1:80"},
		{"192.0.2.1:80", unix.AF_INET6, "192.0.2.1:80"}, // mapped on the socket, unmapped back
		{"[2001:db8::1]:443", unix.AF_INET6, "[2001:db8::1]:443"},
	} {
		var sa syscall.Sockaddr
		switch u := Sockaddr(netip.MustParseAddrPort(tc.ap), tc.family).(type) {
		case *unix.SockaddrInet4:
			sa = &syscall.SockaddrInet4{Port: u.Port, Addr: u.Addr}
		case *unix.SockaddrInet6:
			sa = &syscall.SockaddrInet6{Port: u.Port, Addr: u.Addr}
		}
		if got := AddrPort(sa).String(); got != tc.want {
			t.Errorf("%s (family %d): got %s, want %s", tc.ap, tc.family, got, tc.want)
		}
	}
	mapped := Sockaddr(netip.MustParseAddrPort("192.0.2.1:80"), unix.AF_INET6).(*unix.SockaddrInet6)
	if !netip.AddrFrom16(mapped.Addr).Is4In6() {
		t.Errorf("an IPv4 address on an IPv6 socket is not IPv4-mapped: %v", mapped.Addr)
	}
	if AddrPort(&syscall.SockaddrUnix{Name: "/x"}).IsValid() {
		t.Error("a Unix socket address has an AddrPort")
	}
}

func TestLocalAddrAndTCPConn(t *testing.T) {
	t.Parallel()
	c, peer := testnet.TCPPair(t)
	f, err := c.File()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Dup(int(f.Fd())) // TCPConn takes it over
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := LocalAddr(fd), c.LocalAddr().(*net.TCPAddr).AddrPort(); got != want {
		t.Fatalf("LocalAddr = %v, want %v", got, want)
	}
	tc, err := TCPConn(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if got, want := tc.RemoteAddr().String(), peer.LocalAddr().String(); got != want {
		t.Fatalf("RemoteAddr = %s, want %s", got, want)
	}
	if LocalAddr(-1).IsValid() {
		t.Error("LocalAddr of a bad descriptor is valid")
	}
}
