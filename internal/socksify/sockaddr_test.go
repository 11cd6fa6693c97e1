package socksify

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSockaddrRoundTrip(t *testing.T) {
	for _, c := range []struct {
		domain int
		ap     string
		size   int
	}{
		{unix.AF_INET, "127.0.0.2:80", unix.SizeofSockaddrInet4},
		{unix.AF_INET6, "[2001:db8::1]:443", unix.SizeofSockaddrInet6},
		{unix.AF_INET6, "127.0.0.2:80", unix.SizeofSockaddrInet6}, // v4-mapped, read back unmapped
	} {
		ap := netip.MustParseAddrPort(c.ap)
		b := AppendSockaddr(nil, c.domain, ap)
		if len(b) != c.size {
			t.Errorf("%s in domain %d: %d bytes, want %d", ap, c.domain, len(b), c.size)
		}
		got, ok := ParseSockaddr(b)
		if !ok || got != ap {
			t.Errorf("ParseSockaddr(AppendSockaddr(%s)) = %s, %v", ap, got, ok)
		}
	}
	for _, b := range [][]byte{nil, {1}, {byte(unix.AF_UNIX), 0, '/', 't'}, make([]byte, 15)} {
		if ap, ok := ParseSockaddr(b); ok {
			t.Errorf("ParseSockaddr(% x) = %s, want not ok", b, ap)
		}
	}
}

// FuzzParseSockaddr: any bytes (a program's memory) parse without panic,
// and what parses writes back to the same address.
func FuzzParseSockaddr(f *testing.F) {
	f.Add(AppendSockaddr(nil, unix.AF_INET, netip.MustParseAddrPort("127.0.0.2:80")))
	f.Add(AppendSockaddr(nil, unix.AF_INET6, netip.MustParseAddrPort("[::1]:1080")))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ap, ok := ParseSockaddr(b)
		if !ok {
			return
		}
		domain := unix.AF_INET6
		if ap.Addr().Is4() {
			domain = unix.AF_INET
		}
		back, ok := ParseSockaddr(AppendSockaddr(nil, domain, ap))
		if !ok || back != ap {
			t.Fatalf("%s wrote back as %s", ap, back)
		}
	})
}

func TestErrno(t *testing.T) {
	for _, c := range []struct {
		err  error
		want unix.Errno
	}{
		{nil, 0},
		{unix.ECONNREFUSED, unix.ECONNREFUSED},
	} {
		if got := Errno(c.err); got != c.want {
			t.Errorf("Errno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
