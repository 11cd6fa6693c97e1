package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

// soakDuration is how long TestSoak runs: 15 s in CI, longer by hand with
// SOCKD_SOAK=10m (any time.ParseDuration text).
func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("SOCKD_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SOCKD_SOAK=%q: %v", v, err)
		}
		return d
	}
	return 15 * time.Second
}

// TestSoak runs a mix of every kind of session (SOCKS4, SOCKS5 by address
// and by name, bulk with half-close, resets, refusals, garbage, silent
// clients) from a fixed number of workers for a bounded time, then checks
// that goroutines, descriptors and the heap are back at the idle baseline,
// and that descriptors in use stayed bounded by the concurrency while the
// number of sessions served grew far past that bound.
func TestSoak(t *testing.T) {
	const workers = 24
	duration := soakDuration(t)
	dns := startFakeDNS(t, dnsLoopback)
	srv := startServer(t, permitLoopback, func(o *Options) {
		o.Resolver = dns.resolver()
		o.HandshakeTimeout = 500 * time.Millisecond // the silent ones
	})
	echo := echoTarget(t, "tcp", "127.0.0.1:0")
	echoAP := ap(t, echo.Addr().String())
	refused := testnet.ClosedAddr(t)
	// Each session holds at most: the client's socket on both ends, the
	// destination's on both ends, and two splice pipes (two descriptors
	// each) in the relay.
	fdBound := 8*workers + 64
	minServed := 4 * fdBound

	// Warm up once so that pools and the runtime's helpers are part of the
	// baseline, then measure it.
	c0, r0, _ := v5ConnectTo(t, srv, socks.AddrFromAddrPort(echoAP))
	if r0.Code != socks.V5Succeeded {
		t.Fatal(r0.Code)
	}
	c0.Close()
	waitFor(t, "warm-up session", func() bool { return srv.Active() == 0 })
	base := baseline()

	var served, failures atomic.Int64
	var maxFDs, maxActive atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if n := int64(openFDs()); n > maxFDs.Load() {
				maxFDs.Store(n)
			}
			if n := int64(srv.Active()); n > maxActive.Load() {
				maxActive.Store(n)
			}
		}
	}()

	fail := func(format string, args ...any) {
		if failures.Add(1) <= 5 {
			t.Errorf(format, args...)
		}
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 2048) // 32 KB
	session := func(kind int) {
		c, err := net.DialTimeout("tcp", srv.addr, 10*time.Second)
		if err != nil {
			fail("dial: %v", err)
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		tc := c.(*net.TCPConn)
		v5 := func(dst socks.Addr) (socks.V5ReplyCode, bool) {
			b, _ := socks.AppendV5Greeting(nil, socks.V5Greeting{Methods: []socks.Method{socks.MethodNoAuth}})
			b, _ = socks.AppendV5Request(b, socks.V5Request{Command: socks.V5Connect, Dst: dst})
			if _, err := c.Write(b); err != nil {
				return 0, false
			}
			var m [2]byte
			if _, err := io.ReadFull(c, m[:]); err != nil {
				return 0, false
			}
			rd := socks.NewReader(c, make([]byte, socks.MaxV5RequestLen))
			r, err := rd.ReadV5Reply()
			return r.Code, err == nil
		}
		switch kind {
		case 0: // SOCKS4, small echo
			b, _ := socks.AppendV4Request(nil, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(echoAP), UserID: "soak"})
			c.Write(append(b, "ping"...)) // pipelined
			var rep [socks.V4ReplyLen + 4]byte
			if _, err := io.ReadFull(c, rep[:]); err != nil || rep[1] != 90 || string(rep[8:]) != "ping" {
				fail("SOCKS4: % x %v", rep, err)
			}
		case 1: // SOCKS5 bulk both ways, then half-close
			if code, ok := v5(socks.AddrFromAddrPort(echoAP)); !ok || code != socks.V5Succeeded {
				fail("SOCKS5 bulk: %v %v", code, ok)
				return
			}
			go func() { c.Write(payload); tc.CloseWrite() }()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, payload) {
				fail("bulk echo: %d bytes, %v", len(got), err)
			}
		case 2: // SOCKS5 by name
			if code, ok := v5(socks.Addr{Name: "echo.soak.test", Port: echoAP.Port()}); !ok || code != socks.V5Succeeded {
				fail("SOCKS5 name: %v %v", code, ok)
			}
		case 3: // reset mid-relay
			if code, ok := v5(socks.AddrFromAddrPort(echoAP)); !ok || code != socks.V5Succeeded {
				fail("SOCKS5 reset: %v %v", code, ok)
				return
			}
			c.Write([]byte("x"))
			tc.SetLinger(0)
		case 4: // refused destination
			if code, ok := v5(socks.AddrFromAddrPort(ap(t, refused))); !ok || code != socks.V5ConnectionRefused {
				fail("refused destination: %v %v", code, ok)
			}
		case 5: // garbage
			c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
			io.Copy(io.Discard, c)
		case 6: // silent: dropped at the handshake timeout
			io.Copy(io.Discard, c)
		}
		served.Add(1)
	}

	start := time.Now()
	hardStop := start.Add(4*duration + time.Minute)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				now := time.Now()
				if (now.Sub(start) >= duration && served.Load() >= int64(minServed)) || now.After(hardStop) || failures.Load() > 20 {
					return
				}
				session(i % 7)
			}
		}()
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	elapsed := time.Since(start)
	end := waitBaseline(t, srv, base, 16<<20)
	t.Logf("soak: %d sessions in %v by %d workers (%.0f/s); peak %d sessions, peak %d fds (baseline %d, bound %d); idle before %+v, after %+v",
		served.Load(), elapsed.Round(time.Millisecond), workers, float64(served.Load())/elapsed.Seconds(),
		maxActive.Load(), maxFDs.Load(), base.fds, base.fds+fdBound, base, end)
	if served.Load() < int64(minServed) {
		t.Fatalf("only %d sessions served in %v: too few to tell a bound on descriptors from a leak", served.Load(), elapsed)
	}
	if peak := maxFDs.Load(); peak > int64(base.fds+fdBound) {
		t.Fatalf("%d descriptors open at the peak for %d concurrent clients (baseline %d): descriptors grow with sessions served", peak, workers, base.fds)
	}
}

// Several accept loops admit at once (one per event loop, one per
// listener) while sessions end: the limit holds however they interleave.
// All but one slot are taken, so every admission contends for the last.
func TestAdmitHoldsTheLimit(t *testing.T) {
	t.Parallel()
	const max, loops, tries = 16, 8, 20000
	s := &Server{opts: Options{MaxClients: max}}
	s.active.Store(max - 1)
	var over atomic.Int64
	var wg sync.WaitGroup
	for range loops {
		wg.Go(func() {
			for range tries {
				if s.admit() {
					if s.Active() > max {
						over.Add(1)
					}
					s.active.Add(-1) // the session ends
				}
			}
		})
	}
	wg.Wait()
	if n := over.Load(); n > 0 || s.Active() != max-1 {
		t.Fatalf("more than %d sessions counted %d times; %d left at the end, want %d", max, n, s.Active(), max-1)
	}
}

// TestMaxClientsFlood: with --max-clients reached, a flood of excess
// clients is refused at once, the limit holds, and a client is served as
// soon as a slot frees, even while the flood goes on.
func TestMaxClientsFlood(t *testing.T) {
	const max = 16
	const flood = 4000
	srv := startServer(t, permitLoopback, func(o *Options) { o.MaxClients = max; o.HandshakeTimeout = time.Minute })
	echo := echoTarget(t, "tcp", "127.0.0.1:0")
	base := baseline()
	holders := make([]net.Conn, max)
	for i := range holders {
		holders[i] = dialProxy(t, srv.addr)
	}
	waitFor(t, "the slots to fill", func() bool { return srv.Active() == max })

	var overLimit atomic.Int64
	var slowest atomic.Int64
	stopFlood := make(chan struct{})
	var wg sync.WaitGroup
	var attempts, admitted atomic.Int64
	floodReq, _ := socks.AppendV4Request(nil, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, echo.Addr().String())), UserID: "flood"})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < flood; i += 8 {
				select {
				case <-stopFlood:
					return
				default:
				}
				start := time.Now()
				// A flood client asks for a session: refused ones see a
				// reset or EOF at once; one that gets a freed slot is
				// granted and leaves.
				c, err := net.DialTimeout("tcp", srv.addr, 10*time.Second)
				if err == nil {
					c.SetDeadline(time.Now().Add(10 * time.Second))
					c.Write(floodReq)
					var rep [socks.V4ReplyLen]byte
					_, err = io.ReadFull(c, rep[:])
					c.Close()
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Errorf("an excess client was held for 10 s instead of refused")
					}
					if err == nil {
						admitted.Add(1)
					}
				}
				if d := int64(time.Since(start)); d > slowest.Load() {
					slowest.Store(d)
				}
				if srv.Active() > max {
					overLimit.Add(1)
				}
				attempts.Add(1)
			}
		}()
	}
	// Mid-flood, one holder leaves; a real client must get its slot.
	waitFor(t, "the flood to start", func() bool { return attempts.Load() > flood/4 })
	holders[0].Close()
	target := echo.Addr().String()
	served := false
	for deadline := time.Now().Add(20 * time.Second); !served && time.Now().Before(deadline); {
		c, err := net.DialTimeout("tcp", srv.addr, 5*time.Second)
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := socks.AppendV4Request(nil, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, target)), UserID: "real"})
		c.Write(b)
		var rep [socks.V4ReplyLen]byte
		if _, err := io.ReadFull(c, rep[:]); err == nil && rep[1] == 90 {
			served = true
		}
		c.Close()
	}
	wg.Wait()
	close(stopFlood)
	if !served {
		t.Fatal("no client was served after a slot freed during the flood")
	}
	if n := overLimit.Load(); n > 0 {
		t.Fatalf("more than %d sessions at once %d times", max, n)
	}
	t.Logf("%d flood connections, %d admitted to freed slots; the slowest took %v", attempts.Load(), admitted.Load(), time.Duration(slowest.Load()))
	if d := time.Duration(slowest.Load()); d > 5*time.Second {
		t.Fatalf("an excess client waited %v for its refusal", d)
	}
	contains(t, srv.log, "too many clients, connection closed")
	for _, h := range holders {
		h.Close()
	}
	waitBaseline(t, srv, base, 8<<20)
}

// TestAcceptBackoffRealEMFILE runs a server in a child process whose
// descriptor limit is a few above what it has open, floods it with
// connections until accept fails with EMFILE, and checks that the accept
// loop pauses (little CPU while stuck) and recovers once the silent
// clients are dropped.
func TestAcceptBackoffRealEMFILE(t *testing.T) {
	if os.Getenv("SOCKD_EMFILE_CHILD") != "" {
		emfileChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptBackoffRealEMFILE$")
	cmd.Env = append(os.Environ(), "SOCKD_EMFILE_CHILD="+t.TempDir())
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	logs := &testnet.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("child log:\n%s", logs)
		}
	}()
	addrLine, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v\n%s", err, logs)
	}
	addr := strings.TrimSpace(addrLine)

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 40 { // the kernel completes them into the backlog
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitFor(t, "accept to fail with EMFILE", func() bool { return strings.Contains(logs.String(), "too many open files") })
	// While out of descriptors the loop sleeps: a spinning accept would
	// burn a whole core (100 ticks a second).
	before := cpuTicks(t, cmd.Process.Pid)
	time.Sleep(2 * time.Second)
	used := cpuTicks(t, cmd.Process.Pid) - before
	t.Logf("child used %d CPU ticks in 2 s while out of descriptors", used)
	if used > 60 {
		t.Fatalf("accept loop spins: %d CPU ticks in 2 s", used)
	}
	if !strings.Contains(logs.String(), "pause=") {
		t.Fatal("no pause logged")
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	// Recovered: once the accepted clients are gone, a client is served.
	var ok bool
	for deadline := time.Now().Add(30 * time.Second); !ok && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte{5, 1, 0})
		var m [2]byte
		_, err = io.ReadFull(c, m[:])
		ok = err == nil && m == [2]byte{5, 0}
		c.Close()
	}
	if !ok {
		t.Fatal("the server did not recover after descriptors were freed")
	}
}

func emfileChild() {
	dir := os.Getenv("SOCKD_EMFILE_CHILD")
	conf := dir + "/sockd.conf"
	os.WriteFile(conf, []byte(permitLoopback), 0o600)
	s, err := New(Options{ConfigPath: conf, HandshakeTimeout: time.Second,
		Logger: logline.New(os.Stderr, logline.FormatText, slog.LevelDebug)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	lim := syscall.Rlimit{Cur: uint64(openFDs() + 6), Max: 1 << 16}
	var cur syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &cur)
	lim.Max = cur.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(ln.Addr().String())
	go s.Serve(ln)
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// cpuTicks is utime+stime of a process, in clock ticks (/proc/PID/stat).
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}
