package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/frozen"
	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/internal/signals"
	"github.com/sockd/sockd/socks"
)

// TestReloadUnderLoad: while 2,000 sessions relay, SIGHUP reloads new,
// broken and truncated files over and over. No session is dropped, every
// new request is judged by one complete rule set (old or new, never a
// part of one), and broken or truncated files never take effect.
func TestReloadUnderLoad(t *testing.T) {
	const sessions = 2000
	const rounds = 12
	echo := echoTarget(t, "tcp", "127.0.0.1:0")
	other := echoTarget(t, "tcp", "127.0.0.1:0")
	_, echoPort := hostPort(t, echo.Addr().String())
	_, otherPort := hostPort(t, other.Addr().String())

	// A permits everything from loopback. B denies port otherPort first,
	// then permits loopback. Requests to echoPort are granted by both; a
	// rule set holding only part of B (its deny without the permit after
	// it) would refuse them.
	ruleA := "permit 127.0.0.0 255.0.0.0\n"
	ruleB := fmt.Sprintf("deny 127.0.0.0 255.0.0.0 0.0.0.0 0.0.0.0 eq %d\npermit 127.0.0.0 255.0.0.0\n", otherPort)
	broken := fmt.Sprintf("deny 127.0.0.0 255.0.0.0 0.0.0.0 0.0.0.0 eq %d\npermit 127.0.0.0 255.0.0.0 eq\n", otherPort)
	confB, _, err := loadText(t, ruleB)
	if err != nil {
		t.Fatal(err)
	}
	frozenB, err := frozen.Encode(&frozen.File{Kind: frozen.KindSockdFC, Sockd: confB, Meta: frozen.Meta{Compiler: "test"}})
	if err != nil {
		t.Fatal(err)
	}

	srv := startServer(t, ruleA, nil)
	ctx, cancel := context.WithCancel(context.Background())
	signalsDone := signals.Handle(ctx, srv, time.Second, signals.Hooks{})
	defer func() { cancel(); <-signalsDone }()

	// The long sessions: SOCKS4 CONNECTs to the echo server, opened by a
	// few workers at once.
	long := make([]net.Conn, sessions)
	var wg sync.WaitGroup
	var openErr atomic.Value
	req := v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, echo.Addr().String())), UserID: "long"})
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < sessions; i += 16 {
				c, err := net.DialTimeout("tcp", srv.addr, 10*time.Second)
				if err != nil {
					openErr.Store(err)
					return
				}
				long[i] = c
				c.SetDeadline(time.Now().Add(2 * time.Minute))
				c.Write(req)
				var rep [socks.V4ReplyLen]byte
				if _, err := io.ReadFull(c, rep[:]); err != nil || rep[1] != 90 {
					openErr.Store(fmt.Errorf("session %d: reply % x %v", i, rep, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range long {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err := openErr.Load(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all sessions relaying", func() bool { return srv.Active() >= sessions })

	// Probes: new requests all through the reloads.
	var granted, wrongRefusals, otherGranted, otherRefused atomic.Int64
	stop := make(chan struct{})
	var probes sync.WaitGroup
	probe := func(port uint16) (byte, error) {
		c, err := net.DialTimeout("tcp", srv.addr, 10*time.Second)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		c.Write(v4Request(t, socks.V4Request{Command: socks.V4Connect, Dst: socks.AddrFromAddrPort(ap(t, fmt.Sprintf("127.0.0.1:%d", port))), UserID: "probe"}))
		var rep [socks.V4ReplyLen]byte
		_, err = io.ReadFull(c, rep[:])
		return rep[1], err
	}
	for w := range 4 {
		probes.Add(1)
		go func() {
			defer probes.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if w%2 == 0 {
					code, err := probe(echoPort)
					switch {
					case err != nil:
						t.Errorf("probe: %v", err)
						return
					case code == 90:
						granted.Add(1)
					default:
						wrongRefusals.Add(1)
					}
				} else if code, err := probe(otherPort); err == nil && code == 90 {
					otherGranted.Add(1)
				} else if err == nil {
					otherRefused.Add(1)
				}
			}
		}()
	}

	conf := srv.confPath
	replace := func(data []byte) { // as an editor that renames would
		tmp := filepath.Join(filepath.Dir(conf), ".sockd.conf.tmp")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, conf); err != nil {
			t.Fatal(err)
		}
	}
	overwrite := func(data []byte) { // as a careless writer would
		if err := os.WriteFile(conf, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hup := func(wantOK bool) {
		t.Helper()
		okBefore := strings.Count(srv.log.String(), "configuration loaded")
		failBefore := strings.Count(srv.log.String(), "reload failed")
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the reload", func() bool {
			l := srv.log.String()
			return strings.Count(l, "configuration loaded") > okBefore || strings.Count(l, "reload failed") > failBefore
		})
		if ok := strings.Count(srv.log.String(), "configuration loaded") > okBefore; ok != wantOK {
			t.Fatalf("reload succeeded = %v, want %v", ok, wantOK)
		}
	}
	// Cut points inside B's last line: every one leaves a file that does
	// not compile (text) or fails its checksum (frozen).
	secondLine := strings.Index(ruleB, "\n") + 1
	for r := range rounds {
		replace([]byte(ruleB))
		hup(true)
		overwrite([]byte(broken))
		hup(false)
		overwrite([]byte(ruleB[:secondLine+1+r%(len(ruleB)-secondLine-2)]))
		hup(false)
		overwrite(frozenB[:len(frozenB)-1-r*len(frozenB)/rounds])
		hup(false)
		replace(frozenB)
		hup(true)
		replace([]byte(ruleA))
		hup(true)
	}
	close(stop)
	probes.Wait()
	t.Logf("%d reloads beside %d relaying sessions; probes to the port both rule sets permit: %d granted, %d refused; to the port only A permits: %d granted, %d refused",
		rounds*6, sessions, granted.Load(), wrongRefusals.Load(), otherGranted.Load(), otherRefused.Load())
	if n := wrongRefusals.Load(); n > 0 {
		t.Fatalf("%d requests refused that every complete rule set permits: judged by a partial or broken rule set", n)
	}
	if granted.Load() == 0 {
		t.Fatal("no probe ran")
	}

	// Every long session is still there and relays.
	if n := srv.Active(); n < sessions {
		t.Fatalf("only %d of %d sessions left after the reloads", n, sessions)
	}
	var broke atomic.Int64
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 5)
			for i := w; i < sessions; i += 16 {
				c := long[i]
				if _, err := c.Write([]byte("alive")); err != nil {
					broke.Add(1)
					continue
				}
				if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "alive" {
					broke.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := broke.Load(); n > 0 {
		t.Fatalf("%d of %d sessions dropped during the reloads", n, sessions)
	}
	if strings.Contains(srv.log.String(), "Connect from long(unknown)@127.0.0.1 to 127.0.0.1 ("+portString(echoPort)+"). ") {
		t.Fatal("a long session terminated during the reloads")
	}
}

// loadText compiles a sockd.conf text as the daemon would.
func loadText(t *testing.T, text string) (*config.SockdConf, load.Origin, error) {
	return load.Sockd(writeFile(t, "sockd.conf", text), load.Options{})
}
