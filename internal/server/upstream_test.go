package server

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

// rsockd starts a daemon that permits loopback clients and reaches
// destinations by the given socks.conf (and credentials file, if any).
func rsockd(t *testing.T, socksConf, creds string, mod func(*Options)) *testServer {
	t.Helper()
	return startServer(t, permitLoopback, func(o *Options) {
		o.ClientConfigPath = writeFile(t, "socks.conf", socksConf)
		if creds != "" {
			o.CredentialsPath = writeFile(t, "credentials", creds)
		}
		if mod != nil {
			mod(o)
		}
	})
}

// TestRsockdCurl: curl through the daemon reaches a destination directly,
// through danted (SOCKS4, and SOCKS5 with username authentication),
// microsocks, an HTTP CONNECT proxy, two chained sockd instances, and is
// refused where socks.conf says deny.
func TestRsockdCurl(t *testing.T) {
	t.Parallel()
	url, body := httpTargetOn(t, "127.0.0.2")
	dst := "127.0.0.2 255.255.255.255"
	type tc struct {
		name  string
		setup func(t *testing.T) (conf, creds, via string)
	}
	cases := []tc{
		{name: "direct", setup: func(t *testing.T) (string, string, string) {
			return "direct 127.0.0.0/8\n", "", ""
		}},
		{name: "danted-socks4", setup: func(t *testing.T) (string, string, string) {
			d := startDanted(t, "none")
			return "sockd @=" + d + " " + dst + "\ndirect 127.0.0.0/8\n", "", "socks4://" + d
		}},
		{name: "danted-socks5-username", setup: func(t *testing.T) (string, string, string) {
			d := startDanted(t, "username")
			return "sockd @=socks5://" + d + " " + dst + "\ndirect 127.0.0.0/8\n",
				"socks5://" + d + " " + testSysUser + " " + testSysPass + "\n", "socks5://" + d
		}},
		{name: "microsocks", setup: func(t *testing.T) (string, string, string) {
			m := startMicrosocks(t)
			return "sockd @=socks5://" + m + " " + dst + "\ndirect 127.0.0.0/8\n", "", "socks5://" + m
		}},
		{name: "http-connect", setup: func(t *testing.T) (string, string, string) {
			p := startHTTPProxy(t, "proxyuser", "proxy pass")
			t.Cleanup(func() {
				// The proxy itself was asked, once for each curl: the log
				// line alone cannot show the hop was taken.
				if got := p.asked(); !t.Failed() && (len(got) != 2 || !strings.HasPrefix(got[0], "127.0.0.2:") || got[0] != got[1]) {
					t.Errorf("the HTTP proxy was asked for %q, want the destination twice", got)
				}
			})
			return "sockd @=http://" + p.addr + " " + dst + "\ndirect 127.0.0.0/8\n",
				p.addr + " proxyuser proxy pass\n", "http://" + p.addr
		}},
		{name: "two-sockd-hops", setup: func(t *testing.T) (string, string, string) {
			far := startServerOn(t, "127.0.0.3:0", permitLoopback, nil)
			near := startServerOn(t, "127.0.0.4:0", permitLoopback, nil)
			t.Cleanup(func() {
				if !t.Failed() {
					// Each hop did its part: near reached far, far the destination.
					contains(t, near.log, "to 127.0.0.3 (")
					contains(t, far.log, "to 127.0.0.2 (")
				}
			})
			farHost, _ := hostPort(t, far.addr)
			return "sockd @=socks5://" + far.addr + " " + dst + "\n" +
					"sockd @=socks5://" + near.addr + " " + farHost + " 255.255.255.255\n" +
					"direct 127.0.0.0/8\n", "",
				"socks5://" + near.addr + " -> socks5://" + far.addr
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conf, creds, via := c.setup(t)
			srv := rsockd(t, conf, creds, nil)
			for _, flag := range []string{"--socks5", "--socks4"} {
				out, err := curlVia(t, flag, srv.addr, url+"/")
				if err != nil || out != body {
					t.Fatalf("curl %s: %v: %q", flag, err, out)
				}
			}
			if via != "" {
				contains(t, srv.log, "upstream -- Connect to 127.0.0.2 via "+via)
			}
			contains(t, srv.log, "terminated -- Connect from (unknown)@127.0.0.1 to 127.0.0.2")
		})
	}
	t.Run("deny", func(t *testing.T) {
		srv := rsockd(t, "deny "+dst+"\ndirect 127.0.0.0/8\n", "", nil)
		for _, flag := range []string{"--socks5", "--socks4"} {
			if out, err := curlVia(t, flag, srv.addr, url+"/"); err == nil {
				t.Fatalf("curl %s reached a destination socks.conf denies: %q", flag, out)
			}
		}
		contains(t, srv.log, "refused -- Connect from (unknown)@127.0.0.1 to 127.0.0.2")
		if strings.Contains(srv.log.String(), "connected -- ") {
			t.Fatalf("a denied destination was connected:\n%s", srv.log)
		}
	})
}

// TestRsockdWrongCredentials: danted refuses a wrong password; the daemon
// says which upstream failed and why, and the client gets a refusal.
func TestRsockdWrongCredentials(t *testing.T) {
	t.Parallel()
	url, _ := httpTargetOn(t, "127.0.0.2")
	d := startDanted(t, "username")
	srv := rsockd(t, "sockd @=socks5://"+d+" 127.0.0.2 255.255.255.255\n", "* "+testSysUser+" wrong\n", nil)
	if out, err := curlVia(t, "--socks5", srv.addr, url+"/"); err == nil {
		t.Fatalf("curl succeeded with wrong upstream credentials: %q", out)
	}
	contains(t, srv.log, "upstream socks5://"+d+": authentication: user \""+testSysUser+"\" was not accepted")
}

// TestRsockdSocks5hNoLocalDNS: a name routed to a socks5h upstream is
// handed over unresolved (microsocks resolves it) and the server rules
// judge it by name.
func TestRsockdSocks5hNoLocalDNS(t *testing.T) {
	t.Parallel()
	m := startMicrosocks(t)
	ts, body := httpTarget(t) // on 127.0.0.1, which microsocks reaches for "localhost"
	_, port := hostPort(t, ts.Listener.Addr().String())
	// The resolver would fail the test if asked: no DNS on this side.
	srv := rsockd(t, "sockd @=socks5h://"+m+" localhost 0.0.0.0\n", "", func(o *Options) {
		o.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			t.Errorf("local DNS query for %s: the name should have gone upstream", address)
			return nil, &net.OpError{Op: "dial", Err: io.EOF}
		}}
	})
	out, err := curlVia(t, "--socks5-hostname", srv.addr, "http://localhost:"+portString(port)+"/")
	if err != nil || out != body {
		t.Fatalf("curl: %v: %q", err, out)
	}
	contains(t, srv.log, "upstream -- Connect to localhost via socks5h://"+m)
}

// socks5Connect sends a SOCKS5 CONNECT to the daemon and returns the reply
// code, within the test's deadline.
// TestRsockdFailures: each way an upstream can fail gives the client the
// matching SOCKS5 reply and names the upstream in the log.
func TestRsockdFailures(t *testing.T) {
	t.Parallel()
	dst := socks.Addr{IP: netip.MustParseAddr("127.0.0.2"), Port: uint16(freePort(t, "127.0.0.2"))}
	hang := hangingServer(t)
	down := testnet.ClosedAddr(t)
	strict := startServer(t, "deny 0.0.0.0 0.0.0.0\n", nil) // an upstream whose rules refuse
	ms := startMicrosocks(t)                                // reaches dst's closed port: refused
	cases := []struct {
		name, upstream string
		want           socks.V5ReplyCode
		log            string
	}{
		{"down", "socks5://" + down, socks.V5NetworkUnreachable, "upstream socks5://" + down + ": connect: "},
		{"hangs", "socks5://" + hang, socks.V5TTLExpired, "upstream socks5://" + hang + ": greeting: "},
		{"refuses-by-rules", "socks5://" + strict.addr, socks.V5NotAllowed, "upstream socks5://" + strict.addr + ": request: answered 0x02"},
		{"destination-refused", "socks5://" + ms, socks.V5ConnectionRefused, "upstream socks5://" + ms + ": request: answered 0x05"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := rsockd(t, "sockd @="+c.upstream+" 127.0.0.2 255.255.255.255\n", "", func(o *Options) {
				o.ConnectTimeout = 2 * time.Second
			})
			if _, r, _ := v5ConnectTo(t, srv, dst); r.Code != c.want {
				t.Fatalf("reply %v, want %v", r.Code, c.want)
			}
			contains(t, srv.log, c.log)
		})
	}
	t.Run("second-server-after-a-failure", func(t *testing.T) {
		ts, body := httpTargetOn(t, "127.0.0.2")
		srv := rsockd(t, "sockd @=socks5://"+down+",socks5://"+ms+" 127.0.0.2 255.255.255.255\n", "", nil)
		out, err := curlVia(t, "--socks5", srv.addr, ts+"/")
		if err != nil || out != body {
			t.Fatalf("curl: %v: %q", err, out)
		}
		contains(t, srv.log, "Failed to connect to sockd at socks5://"+down)
		contains(t, srv.log, "via socks5://"+ms)
	})
}

// TestRsockdBindUpstream: a SOCKS5 BIND whose expected peer socks.conf
// routes through danted is made on danted: the client gets danted's
// listening address, then the peer's, then the data.
func TestRsockdBindUpstream(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"none", "username"} {
		t.Run(method, func(t *testing.T) {
			d := startDanted(t, method)
			creds := ""
			scheme := "socks4://"
			if method == "username" {
				creds, scheme = "* "+testSysUser+" "+testSysPass+"\n", "socks5://"
			}
			srv := rsockd(t, "sockd @="+scheme+d+" 127.0.0.6 255.255.255.255\n", creds, nil)
			c := v5Open(t, srv, socks.V5Request{Command: socks.V5Bind, Dst: socks.Addr{IP: netip.MustParseAddr("127.0.0.6"), Port: 0}})
			first := readV5Reply(t, c)
			if first.Code != socks.V5Succeeded {
				t.Fatalf("first reply %v", first.Code)
			}
			ap, ok := first.Bound.AddrPort()
			dh, _ := hostPort(t, d)
			if !ok || ap.Addr().String() != dh || ap.Port() == 0 {
				t.Fatalf("first reply names %v, want danted's address %s", first.Bound, dh)
			}
			dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.6")}, Timeout: 10 * time.Second}
			peer, err := dialer.Dial("tcp", ap.String())
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			second := readV5Reply(t, c)
			if second.Code != socks.V5Succeeded || second.Bound.IP.Unmap().String() != "127.0.0.6" {
				t.Fatalf("second reply %v %v", second.Code, second.Bound)
			}
			mustWrite(t, peer, []byte("from the peer"))
			buf := make([]byte, 13)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "from the peer" {
				t.Fatalf("relayed %q, %v", buf, err)
			}
			contains(t, srv.log, "upstream -- Bind to 127.0.0.6 via "+scheme+d)
		})
	}
}

// TestRsockdUDPUpstream: a SOCKS5 UDP association whose destination
// socks.conf routes through an upstream relays through that upstream's own
// standard UDP association (danted, and another sockd), both ways.
func TestRsockdUDPUpstream(t *testing.T) {
	t.Parallel()
	echo := testnet.EchoUDPT(t, "127.0.0.2:0", "echo:")
	dst := socks.AddrFromAddrPort(echo.LocalAddr().(*net.UDPAddr).AddrPort())
	ups := map[string]func(t *testing.T) string{
		"danted": func(t *testing.T) string { return startDanted(t, "none") },
		"sockd":  func(t *testing.T) string { return startServer(t, permitLoopback, nil).addr },
	}
	for name, start := range ups {
		t.Run(name, func(t *testing.T) {
			up := start(t)
			srv := rsockd(t, "sockd @=socks5://"+up+" 127.0.0.2 255.255.255.255\n", "", nil)
			_, port := hostPort(t, srv.addr)
			var d client.Dialer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pc, err := d.Associate(ctx, client.Upstream{Scheme: "socks5", Host: "127.0.0.1", Port: port})
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			pc.SetDeadline(time.Now().Add(30 * time.Second))
			buf := make([]byte, 256)
			// UDP may lose a datagram even on loopback while the upstream
			// association is being set up: a few tries, bounded.
			var got string
			var from socks.Addr
			for i := 0; i < 5 && got == ""; i++ {
				if _, err := pc.WriteToAddr([]byte("ping"), dst); err != nil {
					t.Fatal(err)
				}
				pc.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, src, err := pc.ReadFromAddr(buf)
				if err == nil {
					got, from = string(buf[:n]), src
				}
			}
			if got != "echo:ping" || from != dst {
				t.Fatalf("got %q from %v, want echo:ping from %v", got, from, dst)
			}
			contains(t, srv.log, "upstream -- UDP to "+dst.String()+" via socks5://"+up)
		})
	}
}

// freePort returns a port that was free on host a moment ago, for a
// destination on another loopback address than testnet's 127.0.0.1.
func freePort(t *testing.T, host string) int {
	t.Helper()
	ln := testnet.ListenT(t, "tcp", host+":0")
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// httpConnectProxy is a small HTTP CONNECT proxy; with user set it wants
// Basic Proxy-Authorization. It records the targets it was asked for.
type httpConnectProxy struct {
	addr       string
	user, pass string
	mu         sync.Mutex
	targets    []string
}

func startHTTPProxy(t *testing.T, user, pass string) *httpConnectProxy {
	t.Helper()
	ln := testnet.ListenT(t, "tcp", "127.0.0.1:0")
	p := &httpConnectProxy{addr: ln.Addr().String(), user: user, pass: pass}
	go testnet.Serve(ln, p.serve)
	return p
}

func (p *httpConnectProxy) serve(c net.Conn) {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
		return
	}
	if p.user != "" {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(p.user+":"+p.pass))
		if req.Header.Get("Proxy-Authorization") != want {
			io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
			return
		}
	}
	p.mu.Lock()
	p.targets = append(p.targets, req.Host)
	p.mu.Unlock()
	out, err := net.DialTimeout("tcp", req.Host, 10*time.Second)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	defer out.Close()
	c.SetDeadline(time.Time{})
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() { io.Copy(out, br); out.(*net.TCPConn).CloseWrite() }()
	io.Copy(c, out)
}

func (p *httpConnectProxy) asked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

// httpTargetOn is httpTarget listening on a chosen loopback address (not
// 127.0.0.1, which socks.conf always reaches directly, as 4.3 did).
func httpTargetOn(t *testing.T, host string) (string, string) {
	t.Helper()
	const body = "hello through the chain"
	ln := testnet.ListenT(t, "tcp", host+":0")
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, body)
	}))
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL, body
}

// hangingServer accepts connections and never answers.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln := testnet.ListenT(t, "tcp", "127.0.0.1:0")
	testnet.Hold(t, ln, func(net.Conn) {})
	return ln.Addr().String()
}
