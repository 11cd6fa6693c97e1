package ident

// The server side of RFC 1413: an identd that answers for the TCP
// connections of this host from the kernel's socket tables. The InfoConnect
// client's help page tells users of servers run with -i or -I to run one;
// sockd's own -i/-I and danted's rfc931 method are its clients.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of a Server.
const (
	// DefaultMaxConns bounds the queries answered at once; a connection
	// beyond it is closed at once, so a flood costs a descriptor only.
	DefaultMaxConns = 64
	// DefaultReadTimeout bounds the wait for each query line (RFC 1413
	// §2 lets a server close an idle connection after 60-180 s; a query
	// from a server that is waiting for us comes at once).
	DefaultReadTimeout = 30 * time.Second
	// MaxQueriesPerConn bounds the queries one connection may send.
	MaxQueriesPerConn = 16
	// maxQueryLen bounds a query line: "65535 , 65535" with generous
	// blanks. RFC 1413 lets a reader give up after 1000 characters; a
	// query is far shorter.
	maxQueryLen = 128
)

// Owner finds the user owning the TCP connection from local to remote on
// this host: ok false when there is no such connection.
type Owner func(local, remote netip.AddrPort) (uid int, ok bool, err error)

// Server answers RFC 1413 queries. The zero value answers from
// /proc/net/tcp and /proc/net/tcp6 with the user's name.
type Server struct {
	// Owner finds the connection; nil means ProcOwner.
	Owner Owner
	// Hidden answers ERROR : HIDDEN-USER for every connection found
	// (the user asked not to be named, RFC 1413 §6), instead of its name.
	Hidden bool
	// MaxConns bounds connections served at once; 0 means DefaultMaxConns.
	MaxConns int
	// ReadTimeout bounds the wait for each query; 0 means
	// DefaultReadTimeout.
	ReadTimeout time.Duration
	// Logger receives one line per answer and per refused connection;
	// nil discards them.
	Logger *slog.Logger

	mu    sync.Mutex
	slots chan struct{}
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	lns   []net.Listener
	done  bool
}

func (s *Server) init() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slots == nil {
		n := s.MaxConns
		if n <= 0 {
			n = DefaultMaxConns
		}
		s.slots = make(chan struct{}, n)
		s.conns = make(map[net.Conn]struct{})
	}
}

// active is the number of connections being served.
func (s *Server) active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.slots)
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Serve accepts connections on ln until Close, answering each in its own
// goroutine within the bounds. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			done := s.done
			s.mu.Unlock()
			if done {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.log().Warn("identd: too many connections at once, closing one", "client", c.RemoteAddr().String())
			c.Close()
			continue
		}
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			c.Close()
			<-s.slots
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
				<-s.slots
				s.wg.Done()
			}()
			s.serveConn(c)
		}()
	}
}

// Close stops every listener and connection and waits for their
// goroutines.
func (s *Server) Close() error {
	s.init()
	s.mu.Lock()
	s.done = true
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// serveConn answers the queries of one connection: each line within
// ReadTimeout, at most MaxQueriesPerConn of them.
func (s *Server) serveConn(c net.Conn) {
	timeout := s.ReadTimeout
	if timeout <= 0 {
		timeout = DefaultReadTimeout
	}
	local, remote := addrPort(c.LocalAddr()), addrPort(c.RemoteAddr())
	rd := bufio.NewReaderSize(io.LimitReader(c, maxQueryLen*MaxQueriesPerConn), maxQueryLen)
	for range MaxQueriesPerConn {
		c.SetDeadline(time.Now().Add(timeout))
		line, err := rd.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			s.log().Warn("identd: query line too long, closing", "client", remote.String())
			return
		}
		if err != nil {
			return // closed, timed out, or a last line without its end
		}
		answer := s.Answer(bytes.TrimRight(line, "\r\n"), local.Addr(), remote.Addr())
		if _, err := io.WriteString(c, answer); err != nil {
			return
		}
	}
}

// Answer is the reply line (with CR LF) to one query line from the host
// at remoteIP, received on this host's address localIP.
func (s *Server) Answer(query []byte, localIP, remoteIP netip.Addr) string {
	lport, rport, err := parsePortPair(query)
	if err != nil {
		// A reply must echo a port pair; a line without one gets the
		// RFC's INVALID-PORT with the pair it named, or 0 , 0.
		a, b, _ := bytes.Cut(query, []byte{','})
		pair := sanitizePair(a) + " , " + sanitizePair(b)
		return pair + " : ERROR : INVALID-PORT\r\n"
	}
	pair := strconv.Itoa(int(lport)) + " , " + strconv.Itoa(int(rport))
	owner := s.Owner
	if owner == nil {
		owner = ProcOwner
	}
	uid, ok, err := owner(netip.AddrPortFrom(localIP, lport), netip.AddrPortFrom(remoteIP, rport))
	switch {
	case err != nil:
		s.log().Error("identd: cannot read the socket tables", "err", err)
		return pair + " : ERROR : UNKNOWN-ERROR\r\n"
	case !ok:
		s.log().Info("identd: no such connection", "query", pair, "client", remoteIP.String())
		return pair + " : ERROR : NO-USER\r\n"
	case s.Hidden:
		s.log().Info("identd: hidden user", "query", pair, "client", remoteIP.String(), "uid", uid)
		return pair + " : ERROR : HIDDEN-USER\r\n"
	}
	name := strconv.Itoa(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	s.log().Info("identd: answered", "query", pair, "client", remoteIP.String(), "user", name)
	return pair + " : USERID : UNIX : " + name + "\r\n"
}

// sanitizePair keeps a malformed port field printable and short in a reply.
func sanitizePair(b []byte) string {
	p, err := parsePort(b)
	if err != nil {
		return "0"
	}
	return strconv.Itoa(int(p))
}

// ProcOwner finds the connection in /proc/net/tcp and /proc/net/tcp6 (the
// tables of the caller's network namespace).
func ProcOwner(local, remote netip.AddrPort) (int, bool, error) {
	return procOwner("/proc/net", local, remote)
}

func procOwner(dir string, local, remote netip.AddrPort) (int, bool, error) {
	var errs []error
	read := 0
	for _, name := range []string{"tcp", "tcp6"} {
		f, err := os.Open(dir + "/" + name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) { // a kernel without IPv6
				continue
			}
			errs = append(errs, err)
			continue
		}
		read++
		uid, ok, err := scanTable(f, local, remote)
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", dir, name, err))
			continue
		}
		if ok {
			return uid, true, nil
		}
	}
	if read == 0 || len(errs) > 0 {
		return 0, false, errors.Join(errs...)
	}
	return 0, false, nil
}

// scanTable reads one /proc/net/tcp{,6} table: a header line, then
// "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...".
// Addresses in IPv4-mapped form (a dual-stack socket) match their IPv4 peers.
func scanTable(r io.Reader, local, remote netip.AddrPort) (int, bool, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), 4096)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		l, err1 := parseProcAddr(f[1])
		rm, err2 := parseProcAddr(f[2])
		if err1 != nil || err2 != nil {
			return 0, false, fmt.Errorf("unreadable line %q", sc.Text())
		}
		if l != local || rm != remote {
			continue
		}
		uid, err := strconv.Atoi(f[7])
		if err != nil {
			return 0, false, fmt.Errorf("unreadable uid in %q", sc.Text())
		}
		return uid, true, nil
	}
	return 0, false, sc.Err()
}

// parseProcAddr reads "0100007F:0050": the address as the kernel's 32-bit
// words printed in host byte order, the port as a plain hex number.
func parseProcAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, errors.New("no port")
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, errors.New("bad address")
	}
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.NativeEndian.Uint32(raw[i:]))
	}
	a, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

// ServeAll serves every listener of lns until ctx is done or one of them
// fails for good, which stops them all; it then closes the server and
// returns the listeners' errors, each naming its address.
func (s *Server) ServeAll(ctx context.Context, lns []net.Listener) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errs := make(chan error, len(lns))
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Serve(ln); err != nil {
				errs <- fmt.Errorf("%s: %w", ln.Addr(), err)
				stop() // one listener failing stops them all
			}
		}()
	}
	<-ctx.Done()
	s.Close()
	wg.Wait()
	close(errs)
	var all []error
	for e := range errs {
		all = append(all, e)
	}
	return errors.Join(all...)
}

// ListenAll binds addrs ("ADDR:PORT", "[V6]:PORT", ":PORT"); with none, port
// 113 on every address, IPv4 and IPv6. On an error it closes what it bound.
func ListenAll(ctx context.Context, addrs []string) ([]net.Listener, error) {
	if len(addrs) == 0 {
		addrs = []string{":" + strconv.Itoa(Port)}
	}
	var lc net.ListenConfig
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := lc.Listen(ctx, "tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}
