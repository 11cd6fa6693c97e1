package ident

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os/user"
	"strings"
	"syscall"
	"testing"
	"time"
)

func apOf(a net.Addr) netip.AddrPort { return addrPort(a) }

// connPair makes a TCP connection on host and returns the accepting side
// (the role of a SOCKS server that asks identd about its client).
func connPair(t *testing.T, host string) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("no %s: %v", host, err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// startIdentd serves srv on host:0 and returns its port.
func startIdentd(t *testing.T, srv *Server, host string) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return apOf(ln.Addr()).Port()
}

func me(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// TestServerAnswersFromKernel: the query client of this package asks our
// identd about a real connection, over IPv4 and IPv6, and gets the user
// that owns it from the kernel's tables.
func TestServerAnswersFromKernel(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			port := startIdentd(t, &Server{}, host)
			_, sc := connPair(t, host)
			rep, err := query(context.Background(), apOf(sc.LocalAddr()), apOf(sc.RemoteAddr()), 10*time.Second, port)
			if err != nil {
				t.Fatal(err)
			}
			if rep.UserID != me(t) || rep.OS != "UNIX" {
				t.Fatalf("reply %+v, want user %s", rep, me(t))
			}
		})
	}
}

func TestServerHiddenAndNoUser(t *testing.T) {
	port := startIdentd(t, &Server{Hidden: true}, "127.0.0.1")
	_, sc := connPair(t, "127.0.0.1")
	_, err := query(context.Background(), apOf(sc.LocalAddr()), apOf(sc.RemoteAddr()), 10*time.Second, port)
	var er *ErrorReply
	if !errors.As(err, &er) || er.Token != "HIDDEN-USER" {
		t.Fatalf("hidden: %v", err)
	}
	// A port pair no connection has.
	plain := startIdentd(t, &Server{}, "127.0.0.1")
	_, err = query(context.Background(), netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2"), 10*time.Second, plain)
	if !errors.As(err, &er) || er.Token != "NO-USER" {
		t.Fatalf("no connection: %v", err)
	}
}

func TestServerAnswerLines(t *testing.T) {
	s := &Server{Owner: func(l, r netip.AddrPort) (int, bool, error) { return 0, l.Port() == 6191, nil }}
	lo := netip.MustParseAddr("127.0.0.1")
	for q, want := range map[string]string{
		"6191, 23":        "6191 , 23 : USERID : UNIX : root\r\n",
		" 6191 ,\t23 ":    "6191 , 23 : USERID : UNIX : root\r\n",
		"6193, 23":        "6193 , 23 : ERROR : NO-USER\r\n",
		"0 , 23":          "0 , 23 : ERROR : INVALID-PORT\r\n",
		"65536 , 23":      "0 , 23 : ERROR : INVALID-PORT\r\n",
		"x":               "0 , 0 : ERROR : INVALID-PORT\r\n",
		"1 , 2 : USERID":  "1 , 0 : ERROR : INVALID-PORT\r\n",
		"\x1b[2J , 12345": "0 , 12345 : ERROR : INVALID-PORT\r\n",
	} {
		if got := s.Answer([]byte(q), lo, lo); got != want {
			t.Errorf("%q: got %q, want %q", q, got, want)
		}
	}
}

// TestServerBounds: a line longer than any query, a client that sends
// nothing, and connections beyond MaxConns are closed; the server keeps
// answering others.
func TestServerBounds(t *testing.T) {
	srv := &Server{MaxConns: 2, ReadTimeout: 200 * time.Millisecond,
		Owner: func(l, r netip.AddrPort) (int, bool, error) { return 0, true, nil }}
	port := startIdentd(t, srv, "127.0.0.1")
	addr := net.JoinHostPort("127.0.0.1", itoa(port))
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		t.Cleanup(func() { c.Close() })
		return c
	}
	closed := func(c net.Conn, what string) {
		t.Helper()
		// A reset counts: closing with the long line unread sends one.
		if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s: not closed by the server: %v", what, err)
		}
	}
	long := dial()
	long.Write([]byte(strings.Repeat("1", 4000)))
	closed(long, "long line")
	closed(dial(), "silent client") // the read timeout ends it

	// The client sees the close a moment before the server frees the slot.
	for deadline := time.Now().Add(20 * time.Second); srv.active() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("slots of closed connections were not freed")
		}
	}
	// Two idle connections fill the slots (each answered once, so they are
	// known to be served); a third is closed at once.
	for range 2 {
		c := dial()
		c.Write([]byte("1 , 2\r\n"))
		if l, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.Contains(l, "USERID") {
			t.Fatalf("answer %q, %v", l, err)
		}
	}
	third := dial()
	third.Write([]byte("1 , 2\r\n"))
	if b, _ := io.ReadAll(third); len(b) != 0 {
		t.Errorf("beyond MaxConns: answered %q", b)
	}
}

func TestScanTable(t *testing.T) {
	table := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000200007F:D431 01 00000000:00000000 00:00000000 00000000  1001        0 1 1 0 20 4 30 10 -1
   1: 00000000000000000000000001000000:0016 00000000000000000000000001000000:A000 01 00000000:00000000 00:00000000 00000000  1002        0 2 1 0 20 4 30 10 -1
`
	uid, ok, err := scanTable(strings.NewReader(table), netip.MustParseAddrPort("127.0.0.1:8080"), netip.MustParseAddrPort("127.0.0.2:54321"))
	if err != nil || !ok || uid != 1001 {
		t.Fatalf("mapped: %d %v %v", uid, ok, err)
	}
	uid, ok, err = scanTable(strings.NewReader(table), netip.MustParseAddrPort("[::1]:22"), netip.MustParseAddrPort("[::1]:40960"))
	if err != nil || !ok || uid != 1002 {
		t.Fatalf("v6: %d %v %v", uid, ok, err)
	}
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

// FuzzAnswer: whatever the query line, the answer is one reply line that
// our own client parses back, for the ports it names.
func FuzzAnswer(f *testing.F) {
	for _, s := range []string{"6191, 23", "x", "1,2", " 65535 , 65535 ", "0,0", "1 , 2 : x"} {
		f.Add(s)
	}
	s := &Server{Owner: func(l, r netip.AddrPort) (int, bool, error) { return 0, l.Port()%2 == 0, nil }}
	lo := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, q string) {
		a := s.Answer([]byte(q), lo, lo)
		if !strings.HasSuffix(a, "\r\n") || strings.Count(a, "\n") != 1 || strings.ContainsAny(a[:len(a)-2], "\r\x00") {
			t.Fatalf("answer %q", a)
		}
		lp, rp, err := parsePortPair([]byte(q))
		if err != nil {
			return
		}
		if _, err := ParseReply([]byte(a[:len(a)-2]), lp, rp); err != nil && !errors.Is(err, ErrIdentError) {
			t.Fatalf("answer %q does not parse: %v", a, err)
		}
	})
}

// TestListenAll: every address is bound; when one cannot be, the call fails.
func TestListenAll(t *testing.T) {
	lns, err := ListenAll(context.Background(), []string{"127.0.0.1:0", "[::1]:0"})
	if err != nil {
		t.Skipf("no IPv6 loopback? %v", err)
	}
	if len(lns) != 2 || !apOf(lns[0].Addr()).Addr().Is4() || !apOf(lns[1].Addr()).Addr().Is6() {
		t.Fatalf("listeners %v", lns)
	}
	taken := lns[0].Addr().String()
	lns[1].Close()
	_, err = ListenAll(context.Background(), []string{"127.0.0.1:0", taken})
	lns[0].Close()
	if err == nil {
		t.Fatal("a taken address was bound")
	}
}
