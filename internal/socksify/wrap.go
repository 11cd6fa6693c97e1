package socksify

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/client"
)

// WrapHelper answers one question of libsockswrap (lib/sockswrap): verb
// "connect" connects the socket fdArg (the program's, inherited) to
// host:port through the chain of the environment's rules; "bind" asks the
// chain for one incoming connection from host:port (0.0.0.0 0: any peer)
// and returns once the server listens — the wrapper reads the second
// reply itself in accept(2). The answer is one line: DIRECT, ERR errno,
// OK address port, or BOUND v4|v5 address port.
func WrapHelper(ctx context.Context, verb, fdArg, host, port string) string {
	fd, err := strconv.Atoi(fdArg)
	if err != nil || !IsTCP(fd) {
		return fmt.Sprintf("ERR %d", unix.EBADF)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Sprintf("ERR %d", unix.EINVAL)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Sprintf("ERR %d", unix.EINVAL)
	}
	dst := netip.AddrPortFrom(ip.Unmap(), uint16(p))
	r, err := FromEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "libsockswrap: %v\n", err)
		return fmt.Sprintf("ERR %d", unix.ECONNREFUSED)
	}
	if os.Getenv("SOCKS_DEBUG") != "" {
		r.Logf = func(format string, a ...any) { fmt.Fprintf(os.Stderr, "libsockswrap: "+format+"\n", a...) }
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if verb == "bind" {
		b, err := r.BindFD(ctx, fd, dst)
		switch {
		case err == ErrDirectBind:
			return "DIRECT"
		case err != nil:
			r.logf("bind for %s: %v", dst, err)
			return fmt.Sprintf("ERR %d", Errno(err))
		}
		v := "v5"
		if b.Scheme == client.SchemeSOCKS4 || b.Scheme == client.SchemeSOCKS4a {
			v = "v4"
		}
		ap, _ := b.Bound.AddrPort()
		return fmt.Sprintf("BOUND %s %s %d", v, ap.Addr(), ap.Port())
	}
	dec := r.Decide(ctx, dst)
	r.logf("%s", describe(dst, dec))
	switch dec.Action {
	case Direct:
		return "DIRECT"
	case Deny:
		return fmt.Sprintf("ERR %d", unix.ECONNREFUSED)
	}
	c, err := r.Connect(ctx, fd, dst, dec)
	if err != nil {
		r.logf("%s: %v", dst, err)
		return fmt.Sprintf("ERR %d", Errno(err))
	}
	r.logf("%s: connected via %s", dst, c.Path)
	bound, _ := c.Bound.AddrPort()
	if !bound.IsValid() {
		bound = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	return fmt.Sprintf("OK %s %d", bound.Addr(), bound.Port())
}
