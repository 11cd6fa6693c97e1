package signals

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/testnet"
)

// daemon stands for the server: its log says what the server's says when
// the loop reloads it ("configuration loaded") and dumps its
// configuration ("effective configuration"), and it has loaded once
// already, as a server has when its loop starts.
type daemon struct {
	log *testnet.Buffer
	slg *slog.Logger
}

func newDaemon() *daemon {
	d := &daemon{log: &testnet.Buffer{}}
	d.slg = logline.New(d.log, logline.FormatText, slog.LevelDebug)
	d.slg.Info("configuration loaded")
	return d
}

func (d *daemon) ReloadWithDeadline() error          { d.slg.Info("configuration loaded"); return nil }
func (d *daemon) DumpConfig()                        { d.slg.Info("effective configuration") }
func (d *daemon) Active() int                        { return 0 }
func (d *daemon) Shutdown(ctx context.Context) error { return nil }
func (d *daemon) Logger() *slog.Logger               { return d.slg }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !testnet.Eventually(20*time.Second, 5*time.Millisecond, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestSignalLoopOrder: the daemon's one signal loop registers its channel
// once, reopens the log before each reload (so the reload's lines follow
// the reopen), answers other signals while a reopen hangs, runs one more
// reopen and reload for SIGHUPs that came during a reload, and says
// Stopping before it drains.
func TestSignalLoopOrder(t *testing.T) {
	srv := newDaemon()
	var mu sync.Mutex
	var regs []chan<- os.Signal
	var regSigs []os.Signal
	reopens := 0
	hold := make(chan struct{}) // closed: reopens no longer wait
	close(hold)
	var holdMu sync.Mutex
	stopping := make(chan struct{}, 4)
	h := Hooks{
		notify: func(c chan<- os.Signal, sig ...os.Signal) {
			mu.Lock()
			defer mu.Unlock()
			regs = append(regs, c)
			regSigs = append(regSigs, sig...)
		},
		stop: func(chan<- os.Signal) {},
		ReopenLog: func() {
			holdMu.Lock()
			wait := hold
			holdMu.Unlock()
			<-wait
			mu.Lock()
			reopens++
			n := reopens
			mu.Unlock()
			srv.log.Write([]byte("test: log reopened " + string(rune('0'+n)) + "\n"))
		},
		Stopping: func() { stopping <- struct{}{} },
	}
	done := Handle(context.Background(), srv, time.Second, h)
	mu.Lock()
	if len(regs) != 1 {
		t.Fatalf("%d signal registrations, want 1", len(regs))
	}
	ch := regs[0]
	for _, want := range []os.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT} {
		found := false
		for _, s := range regSigs {
			found = found || s == want
		}
		if !found {
			t.Errorf("%v not taken by the loop (registered %v)", want, regSigs)
		}
	}
	mu.Unlock()
	loads := func() int { return strings.Count(srv.log.String(), "configuration loaded") }

	// One SIGHUP: one reopen, then one reload.
	ch <- syscall.SIGHUP
	waitFor(t, "the reload", func() bool { return loads() == 2 })
	log := srv.log.String()
	reopened, reloading, loaded := strings.Index(log, "test: log reopened 1"), strings.Index(log, "SIGHUP: reloading"), strings.LastIndex(log, "configuration loaded")
	if reopened < 0 || reloading < reopened || loaded < reloading {
		t.Fatalf("want the reopen, then the reload; log:\n%s", log)
	}

	// A reopen that hangs holds neither the loop (SIGUSR1 is answered)
	// nor the SIGHUP that comes meanwhile, which gets its own reopen and
	// reload after it.
	holdMu.Lock()
	hold = make(chan struct{})
	holdMu.Unlock()
	ch <- syscall.SIGHUP
	ch <- syscall.SIGUSR1
	waitFor(t, "SIGUSR1's dump during the reopen", func() bool { return strings.Contains(srv.log.String(), "effective configuration") })
	ch <- syscall.SIGHUP
	waitFor(t, "the second SIGHUP queued", func() bool { return strings.Contains(srv.log.String(), "another follows it") })
	holdMu.Lock()
	close(hold)
	holdMu.Unlock()
	waitFor(t, "both reloads", func() bool { return loads() == 4 })
	log = srv.log.String()
	r3, again := strings.Index(log, "test: log reopened 3"), strings.Index(log, "SIGHUP: reloading again")
	if r3 < 0 || again < r3 || strings.LastIndex(log, "configuration loaded") < again {
		t.Fatalf("the queued SIGHUP: want its reopen, then its reload; log:\n%s", log)
	}
	mu.Lock()
	if reopens != 3 {
		t.Errorf("%d reopens for three reloads", reopens)
	}
	mu.Unlock()

	ch <- syscall.SIGTERM
	select {
	case <-stopping:
	case <-time.After(20 * time.Second):
		t.Fatal("SIGTERM: Stopping never ran")
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the loop did not end after SIGTERM")
	}
}
