package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/acceptgate"
)

// resources is what a leak would grow: goroutines, descriptors, heap.
type resources struct {
	goroutines int
	fds        int
	heap       uint64 // HeapInuse after two collections
}

func openFDs() int {
	n, err := acceptgate.OpenFDs()
	if err != nil {
		return -1
	}
	return n
}

func measure() resources {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return resources{goroutines: runtime.NumGoroutine(), fds: openFDs(), heap: ms.HeapInuse}
}

// baseline measures the idle state once the descriptors and goroutines
// that earlier tests left closing (their servers' sessions, echo
// connections) are gone: it waits, bounded, until neither changes for
// 300 ms.
func baseline() resources {
	prev := measure()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		now := measure()
		if now.fds == prev.fds && now.goroutines == prev.goroutines {
			return now
		}
		prev = now
	}
	return prev
}

// waitBaseline waits (bounded) until the server has no session and the
// goroutines and descriptors are back to base (plus slack for the runtime's
// own helpers), and the heap to base plus heapSlack; it fails naming what
// did not come back.
func waitBaseline(t *testing.T, srv *testServer, base resources, heapSlack uint64) resources {
	t.Helper()
	waitFor(t, "every session to end", func() bool { return srv.Active() == 0 })
	var now resources
	deadline := time.Now().Add(20 * time.Second)
	for {
		now = measure()
		if now.goroutines <= base.goroutines+3 && now.fds <= base.fds+3 && now.heap <= base.heap+heapSlack {
			return now
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("not back to the idle baseline: goroutines %d (base %d), fds %d (base %d), heap %d KB (base %d KB, slack %d KB)\n%s",
				now.goroutines, base.goroutines, now.fds, base.fds, now.heap>>10, base.heap>>10, heapSlack>>10, buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dnsMode is how fakeDNS answers.
type dnsMode int

const (
	dnsServFail dnsMode = iota // RCODE 2
	dnsNXDomain                // RCODE 3
	dnsHang                    // never answers
	dnsLoopback                // A 127.0.0.1 for every name, no AAAA
)

// fakeDNS is a UDP DNS server on 127.0.0.1 speaking just enough of RFC 1035
// for Go's resolver; resolverTo points a net.Resolver at it, so that no
// test query leaves the machine.
type fakeDNS struct {
	pc      net.PacketConn
	mu      sync.Mutex
	mode    dnsMode
	queries []string
}

func startFakeDNS(t testing.TB, mode dnsMode) *fakeDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDNS{pc: pc, mode: mode}
	t.Cleanup(func() { pc.Close() })
	go d.serve()
	return d
}

// startServerDNS is startServer with the server's resolver pointed at a
// fakeDNS that answers in mode.
func startServerDNS(t *testing.T, conf string, mode dnsMode, mod func(*Options)) (*testServer, *fakeDNS) {
	t.Helper()
	dns := startFakeDNS(t, mode)
	srv := startServer(t, conf, func(o *Options) {
		o.Resolver = dns.resolver()
		if mod != nil {
			mod(o)
		}
	})
	return srv, dns
}

func (d *fakeDNS) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := d.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q := buf[:n]
		if len(q) < 12 {
			continue
		}
		// The question: labels up to the zero byte, then type and class.
		i := 12
		var labels []string
		for i < len(q) && q[i] != 0 && i+1+int(q[i]) <= len(q) {
			labels = append(labels, string(q[i+1:i+1+int(q[i])]))
			i += 1 + int(q[i])
		}
		if i+5 > len(q) {
			continue
		}
		qtype := binary.BigEndian.Uint16(q[i+1:])
		question := q[12 : i+5]
		d.mu.Lock()
		mode := d.mode
		d.queries = append(d.queries, strings.Join(labels, "."))
		d.mu.Unlock()
		if mode == dnsHang {
			continue
		}
		resp := make([]byte, 12, 64+len(question))
		copy(resp, q[:2])
		flags := uint16(0x8180) // response, recursion desired and available
		switch mode {
		case dnsServFail:
			flags |= 2
		case dnsNXDomain:
			flags |= 3
		}
		binary.BigEndian.PutUint16(resp[2:], flags)
		binary.BigEndian.PutUint16(resp[4:], 1)
		resp = append(resp, question...)
		if mode == dnsLoopback && qtype == 1 {
			binary.BigEndian.PutUint16(resp[6:], 1)
			resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1)
		}
		d.pc.WriteTo(resp, from)
	}
}

func (d *fakeDNS) resolver() *net.Resolver {
	addr := d.pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", addr)
	}}
}

func (d *fakeDNS) asked(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range d.queries {
		if strings.HasPrefix(q, name) {
			return true
		}
	}
	return false
}

// readUntilClosed reads everything the server sends until it closes (EOF
// or reset) and reports how long that took; it fails if the server has not
// closed within limit.
func readUntilClosed(t *testing.T, c net.Conn, limit time.Duration) ([]byte, time.Duration) {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("server did not close within %v (received % x)", limit, got)
			}
			return got, time.Since(start)
		}
	}
}

// leave ends the client's side: a close (FIN) or a reset.
func leave(c *net.TCPConn, reset bool) {
	if reset {
		c.SetLinger(0)
	}
	c.Close()
}

// leaveCases are the ways a client leaves a pending request, in SOCKS4 and
// SOCKS5.
var leaveCases = []struct {
	name  string
	v4    bool
	reset bool
}{{"socks4 close", true, false}, {"socks4 reset", true, true}, {"socks5 close", false, false}, {"socks5 reset", false, true}}

// synSentTo counts the sockets of this host (in the test's network
// namespace) whose connect to a loopback port is pending (SYN_SENT), from
// /proc/net/tcp: the test can thus wait for the server's connect to begin,
// whichever engine makes it.
func synSentTo(t *testing.T, port uint16) int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	want := fmt.Sprintf(":%04X", port)
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[2], want) && f[3] == "02" {
			n++
		}
	}
	return n
}
