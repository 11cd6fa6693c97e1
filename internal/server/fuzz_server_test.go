package server

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/auth"
	"github.com/sockd/sockd/socks"
	"golang.org/x/crypto/bcrypt"
)

// FuzzServerSession drives the daemon's own request handling end to end:
// the input is what a client sends on a real loopback connection before
// half-closing it. The rules deny everything and a password (alice/right)
// is offered, so whatever the bytes:
//   - the daemon answers and closes well before its handshake timeout (no
//     hang), and does not crash;
//   - what it answers is exactly what the protocol prescribes for the
//     input as the in-repo parsers read it: the method the server prefers
//     among those offered, the RFC 1929 status, a refusal or the error
//     reply for the request's fault;
//   - no CONNECT or BIND ever succeeds, and nothing gets past a missing or
//     failed authentication.
func FuzzServerSession(f *testing.F) {
	up := func(u, p string) []byte {
		b, _ := socks.AppendUserPass(nil, socks.UserPass{Username: u, Password: p})
		return b
	}
	req5 := func(cmd socks.V5Command, a socks.Addr) []byte {
		b, _ := socks.AppendV5Request(nil, socks.V5Request{Command: cmd, Dst: a})
		return b
	}
	ip := socks.Addr{IP: netipMust("127.0.0.1"), Port: 80}
	name := socks.Addr{Name: "fuzz.test", Port: 443}
	for _, s := range [][]byte{
		v4RequestBytes(socks.V4Request{Command: socks.V4Connect, Dst: ip, UserID: "alice"}),
		v4RequestBytes(socks.V4Request{Command: socks.V4Bind, Dst: name, UserID: "u"}),
		append([]byte{5, 1, 0}, req5(socks.V5Connect, ip)...),
		append([]byte{5, 1, 0}, req5(socks.V5UDPAssociate, ip)...),
		append(append([]byte{5, 2, 0, 2}, up("alice", "right")...), req5(socks.V5Connect, name)...),
		append(append([]byte{5, 1, 2}, up("alice", "wrong")...), req5(socks.V5Bind, ip)...),
		append([]byte{5, 1, 2}, req5(socks.V5Connect, ip)...),
		[]byte("GET / HTTP/1.0\r\n\r\n"),
		{5, 1, 0, 5, 9, 0, 1, 1, 2, 3, 4, 0, 80},
		{5, 1, 0, 5, 1, 0, 9},
		{4, 1, 0, 80, 0, 0, 0, 7, 0},
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	pw := filepath.Join(dir, "passwd")
	if err := auth.SetPassword(pw, "alice", "right", bcrypt.MinCost); err != nil {
		f.Fatal(err)
	}
	conf := filepath.Join(dir, "sockd.conf")
	if err := os.WriteFile(conf, []byte("deny 0.0.0.0 0.0.0.0\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	dns := startFakeDNS(f, dnsNXDomain)
	// One server per engine; every input goes to both, and each must give
	// the answer the protocol prescribes.
	var addrs []string
	for _, noLoops := range []bool{false, true} {
		s, err := New(Options{ConfigPath: conf, PasswdPath: pw, Resolver: dns.resolver(),
			Methods:          []socks.Method{socks.MethodUserPass, socks.MethodNoAuth},
			HandshakeTimeout: 5 * time.Second, ConnectTimeout: 2 * time.Second, NoEventLoops: noLoops})
		if err != nil {
			f.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			f.Fatal(err)
		}
		go s.Serve(ln)
		f.Cleanup(func() { s.Kill() })
		addrs = append(addrs, ln.Addr().String())
	}

	f.Fuzz(func(t *testing.T, in []byte) {
		for i, addr := range addrs {
			fuzzSession(t, addr, in, []string{"loops", "goroutines"}[i])
		}
	})
}

// fuzzSession sends in to the server at addr, half-closes, and checks the
// answer; engine names the server in a failure.
func fuzzSession(t *testing.T, addr string, in []byte, engine string) {
	// A source address of its own per run: the daemon closes first,
	// so its TIME_WAIT entries would exhaust one source's ports.
	src := net.IPv4(127, byte(1+rand.IntN(254)), byte(rand.IntN(256)), byte(1+rand.IntN(254)))
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: src}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	c.Write(in) // the daemon may close before reading it all
	c.(*net.TCPConn).CloseWrite()
	got, took := readUntilClosed(t, c, 10*time.Second)
	if took > 4*time.Second {
		t.Fatalf("%s: closed only after %v (handshake timeout 5 s): the daemon waited for nothing", engine, took)
	}
	want, port := expectedAnswer(in)
	if port && len(got) == len(want)+2 {
		got = got[:len(want)] // the UDP relay's port
	}
	// A shorter answer is one cut by the reset of a close with unread
	// input; anything else is wrong.
	if !bytes.Equal(got, want) && !(len(got) < len(want) && bytes.Equal(got, want[:len(got)])) {
		t.Fatalf("%s: input % x\nanswer   % x\nexpected % x (+port %v)", engine, in, got, want, port)
	}
}

// expectedAnswer is what the daemon of FuzzServerSession must send for
// the input in, computed with the in-repo parsers and encoders; port is
// set when a UDP relay's port (unknown here) follows.
func expectedAnswer(in []byte) (want []byte, port bool) {
	want = expectedHandshake(in)
	return want, bytes.HasSuffix(want, udpGrantPrefix)
}

func expectedHandshake(in []byte) []byte {
	rej4 := []byte{0, 91, 0, 0, 0, 0, 0, 0}
	v5reply := func(code socks.V5ReplyCode) []byte {
		b, _ := socks.AppendV5Reply(nil, socks.V5Reply{Code: code})
		return b
	}
	if len(in) == 0 {
		return nil
	}
	switch in[0] {
	case socks.Version4:
		_, _, err := socks.ParseV4Request(in)
		if err == socks.ErrIncomplete || errors.Is(err, socks.ErrCommand) {
			return nil // EOF, or 4.3's silent close
		}
		return rej4 // a bad field, or the rules' refusal
	case socks.Version5:
	default:
		return nil
	}
	g, n, err := socks.ParseV5Greeting(in)
	if err != nil {
		return nil
	}
	out := []byte{5}
	rest := in[n:]
	switch {
	case g.Offers(socks.MethodUserPass):
		out = append(out, byte(socks.MethodUserPass))
		u, n, err := socks.ParseUserPass(rest)
		if err != nil {
			return out
		}
		ok := u.Username == "alice" && u.Password == "right"
		out = socks.AppendUserPassReply(out, map[bool]socks.UserPassStatus{true: socks.UserPassSuccess, false: socks.UserPassFailure}[ok])
		if !ok {
			return out
		}
		rest = rest[n:]
	case g.Offers(socks.MethodNoAuth):
		out = append(out, byte(socks.MethodNoAuth))
	default:
		return append(out, byte(socks.MethodNoAcceptable))
	}
	r, _, err := socks.ParseV5Request(rest)
	var fe *socks.FieldError
	switch {
	case err == socks.ErrIncomplete:
		return out
	case errors.Is(err, socks.ErrCommand):
		return append(out, v5reply(socks.V5CommandNotSupported)...)
	case errors.Is(err, socks.ErrAddrType):
		return append(out, v5reply(socks.V5AddressTypeNotSupported)...)
	case errors.As(err, &fe):
		return append(out, v5reply(socks.V5GeneralFailure)...)
	case err != nil:
		return out
	case r.Command == socks.V5UDPAssociate:
		// Granted (datagrams are judged one by one); the reply names the
		// relay's port, which the caller cannot know.
		return append(out, udpGrantPrefix...)
	}
	return append(out, v5reply(socks.V5NotAllowed)...)
}

// udpGrantPrefix is a UDP ASSOCIATE grant on 127.0.0.1 without its port.
var udpGrantPrefix = []byte{5, 0, 0, 1, 127, 0, 0, 1}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }

func v4RequestBytes(r socks.V4Request) []byte {
	b, err := socks.AppendV4Request(nil, r)
	if err != nil {
		panic(err)
	}
	return b
}
