package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// dial reaches target through p with a SOCKS5 CONNECT (no authentication,
// an IPv4 address), one message at a time as a careful client does, or
// directly for the baseline.
func (p *proxy) dial(target string, timeout time.Duration) (*net.TCPConn, error) {
	if p.direct() {
		c, err := net.DialTimeout("tcp", target, timeout)
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}
	c, err := net.DialTimeout("tcp", p.addr, timeout)
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
	tc.SetDeadline(time.Now().Add(timeout))
	if err := socks5Connect(tc, target); err != nil {
		tc.Close()
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	return tc, nil
}

func socks5Connect(c net.Conn, target string) error {
	ap, err := netip.ParseAddrPort(target)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("target %q: want an IPv4 address and port", target)
	}
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		return err
	}
	var b [10]byte
	if _, err := io.ReadFull(c, b[:2]); err != nil {
		return err
	}
	if b[0] != 5 || b[1] != 0 {
		return fmt.Errorf("method reply %v", b[:2])
	}
	req := []byte{5, 1, 0, 1, 0, 0, 0, 0, 0, 0}
	a4 := ap.Addr().As4()
	copy(req[4:8], a4[:])
	binary.BigEndian.PutUint16(req[8:], ap.Port())
	if _, err := c.Write(req); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, b[:4]); err != nil {
		return err
	}
	if b[1] != 0 {
		return fmt.Errorf("CONNECT refused: reply %d", b[1])
	}
	// The bound address: IPv4 here, but read whatever type came.
	rest := 0
	switch b[3] {
	case 1:
		rest = 4 + 2
	case 4:
		rest = 16 + 2
	default:
		return fmt.Errorf("reply address type %d", b[3])
	}
	_, err = io.ReadFull(c, make([]byte, rest))
	return err
}

// throughput downloads from the source target over streams connections
// for d and returns bytes per second, measured after a warm-up.
func throughput(p *proxy, t targets, streams int, d time.Duration) (float64, error) {
	var total atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, streams)
	conns := make([]*net.TCPConn, 0, streams)
	for range streams {
		c, err := p.dial(t.source, 5*time.Second)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return 0, err
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			buf := make([]byte, 256<<10)
			for !stop.Load() {
				n, err := c.Read(buf)
				total.Add(int64(n))
				if err != nil {
					if !stop.Load() {
						errc <- err
					}
					return
				}
			}
		}()
	}
	time.Sleep(d / 5) // warm-up: slow start and window growth
	start, t0 := total.Load(), time.Now()
	time.Sleep(d)
	end, el := total.Load(), time.Since(t0)
	stop.Store(true)
	for _, c := range conns {
		c.SetReadDeadline(time.Now())
	}
	wg.Wait()
	select {
	case err := <-errc:
		return 0, err
	default:
	}
	return float64(end-start) / el.Seconds(), nil
}

// connRate runs workers clients for d, each repeating: connect, SOCKS5
// handshake, a 64-byte request, a 512-byte reply, the target's close,
// close. It returns completed exchanges per second, the failures, and the
// processor time per exchange of the server and of the load generator.
func connRate(p *proxy, t targets, workers int, d time.Duration) (float64, int64, cpuSample) {
	var done, failed atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	req := make([]byte, rateRequestLen)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, rateReplyLen+1)
			for !stop.Load() {
				if err := exchange(p, t.rate, req, buf); err != nil {
					failed.Add(1)
					time.Sleep(time.Millisecond)
					continue
				}
				done.Add(1)
			}
		}()
	}
	meter := cpuMeter{target: t.pid}
	if p.cmd != nil && p.cmd.Process != nil {
		meter.server = p.cmd.Process.Pid
	}
	time.Sleep(d / 5)
	start, t0, cpu0 := done.Load(), time.Now(), meter.sample()
	time.Sleep(d)
	end, el, cpu1 := done.Load(), time.Since(t0), meter.sample()
	stop.Store(true)
	wg.Wait()
	var per cpuSample
	if n := end - start; n > 0 {
		per = cpuSample{server: (cpu1.server - cpu0.server) / time.Duration(n), load: (cpu1.load - cpu0.load) / time.Duration(n)}
	}
	return float64(end-start) / el.Seconds(), failed.Load(), per
}

func exchange(p *proxy, target string, req, buf []byte) error {
	c, err := p.dial(target, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(req); err != nil {
		return err
	}
	n, err := io.ReadAtLeast(c, buf, rateReplyLen)
	if err != nil {
		return err
	}
	// The target closes first: wait for its end of file to come through.
	if m, err := c.Read(buf[n:]); m != 0 || err != io.EOF {
		return fmt.Errorf("reply of %d bytes then %v, want end of file", n+m, err)
	}
	return nil
}

// openEcho opens n relayed connections to the echo target, with parallel
// openers, each checked with one echo; it returns the open ones.
func openEcho(p *proxy, t targets, n, parallel int) ([]*net.TCPConn, error) {
	conns := make([]*net.TCPConn, n)
	var firstErr atomic.Pointer[error]
	inParallel(n, parallel, func(i int) {
		c, err := p.dial(t.echo, 10*time.Second)
		if err == nil {
			err = echoOnce(c)
			if err != nil {
				c.Close()
			}
		}
		if err != nil {
			firstErr.CompareAndSwap(nil, &err)
			return
		}
		conns[i] = c
	})
	var out []*net.TCPConn
	for _, c := range conns {
		if c != nil {
			out = append(out, c)
		}
	}
	if e := firstErr.Load(); e != nil {
		return out, *e
	}
	return out, nil
}

func echoOnce(c *net.TCPConn) error {
	var b [echoLen]byte
	for i := range b {
		b[i] = byte(i)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(b[:]); err != nil {
		return err
	}
	var r [echoLen]byte
	if _, err := io.ReadFull(c, r[:]); err != nil {
		return err
	}
	if r != b {
		return errors.New("echo differs")
	}
	return nil
}

// checkAll echoes once more on every connection, in parallel, and counts
// those that still relay.
func checkAll(conns []*net.TCPConn, parallel int) int {
	var ok atomic.Int64
	inParallel(len(conns), parallel, func(i int) {
		if echoOnce(conns[i]) == nil {
			ok.Add(1)
		}
	})
	return int(ok.Load())
}

// inParallel calls f(i) for every i below n, from parallel goroutines,
// and returns when all calls have.
func inParallel(n, parallel int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

func closeAll(conns []*net.TCPConn) {
	for _, c := range conns {
		c.Close()
	}
}
