package auth

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGuardBoundsConcurrentChecks: however many clients check passwords at
// once, no more than the bound run; the others wait, and one whose context
// ends while waiting gets Busy without a check (issue 18, defect 8).
func TestGuardBoundsConcurrentChecks(t *testing.T) {
	const bound, clients = 2, 12
	g := NewGuard(bound, 1000, time.Minute)
	var running, most atomic.Int32
	release := make(chan struct{})
	g.verify = func(Checker, string, string) bool {
		n := running.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		return false
	}
	src := netip.MustParseAddr("192.0.2.1")
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.Verify(context.Background(), nil, src, "u", "p")
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for running.Load() < bound && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	// A client whose handshake deadline passes while it waits is told so.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	v := g.Verify(ctx, nil, src, "u", "p")
	cancel()
	if v.Outcome != Busy {
		t.Errorf("a check waiting past its deadline: outcome %v, want Busy", v.Outcome)
	}
	if n := running.Load(); n != bound {
		t.Errorf("%d checks running with %d clients waiting, want the bound, %d", n, clients, bound)
	}
	close(release)
	wg.Wait()
	if m := most.Load(); m > bound {
		t.Errorf("%d checks ran at once, bound %d", m, bound)
	}
}

// TestGuardLimitsFailuresPerSource: after the limit of failures within the
// window a source is refused without a check, the first refusal alone asks
// for a log line, other sources are not affected, and the window's end
// lifts the block.
func TestGuardLimitsFailuresPerSource(t *testing.T) {
	path := t.TempDir() + "/passwd"
	if err := SetPassword(path, "alice", "right", 4); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1e9, 0)
	g := NewGuard(1, 3, time.Minute)
	g.now = func() time.Time { return now }
	var checks int
	verify := g.verify
	g.verify = func(p Checker, u, pw string) bool { checks++; return verify(p, u, pw) }
	bad := netip.MustParseAddr("::ffff:192.0.2.1")
	good := netip.MustParseAddr("192.0.2.2")
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		if v := g.Verify(ctx, p, bad, "alice", "wrong"); v.Outcome != Rejected || v.Failures != i {
			t.Fatalf("failure %d: %+v", i, v)
		}
	}
	var logs int
	for range 5 {
		v := g.Verify(ctx, p, bad, "alice", "right")
		if v.Outcome != Blocked {
			t.Fatalf("over the limit, the right password: %+v, want Blocked", v)
		}
		if v.LogBlock {
			logs++
		}
	}
	if logs != 1 {
		t.Errorf("%d blocked tries asked for %d log lines, want 1", 5, logs)
	}
	if checks != 3 {
		t.Errorf("%d bcrypt checks, want 3 (none for a blocked source)", checks)
	}
	if v := g.Verify(ctx, p, good, "alice", "right"); v.Outcome != Accepted {
		t.Errorf("another source: %+v, want Accepted", v)
	}
	if v := g.Verify(ctx, p, netip.MustParseAddr("192.0.2.1"), "alice", "right"); v.Outcome != Blocked || v.LogBlock {
		t.Errorf("the same source without the v4-mapped prefix: %+v, want Blocked, not logged again", v)
	}
	// Another address of the same IPv6 /64 shares its count.
	v6 := netip.MustParseAddr("2001:db8:1:2::1")
	for range 3 {
		g.Verify(ctx, p, v6, "alice", "wrong")
	}
	if v := g.Verify(ctx, p, netip.MustParseAddr("2001:db8:1:2:ffff::9"), "alice", "right"); v.Outcome != Blocked {
		t.Errorf("another address of a blocked /64: %+v, want Blocked", v)
	}
	now = now.Add(time.Minute)
	if v := g.Verify(ctx, p, bad, "alice", "right"); v.Outcome != Accepted {
		t.Errorf("after the window: %+v, want Accepted", v)
	}
}

// TestGuardSourcesAreBounded: failures from more sources than the table
// holds never grow it past its bound.
func TestGuardSourcesAreBounded(t *testing.T) {
	g := NewGuard(1, 3, time.Minute)
	g.verify = func(Checker, string, string) bool { return false }
	base := netip.MustParseAddr("2001:db8::").As16()
	for i := range maxSources + 100 {
		a := base
		a[6], a[7] = byte(i>>8), byte(i) // one /64 each
		g.Verify(context.Background(), nil, netip.AddrFrom16(a), "u", "p")
		if n := g.Sources(); n > maxSources {
			t.Fatalf("%d sources counted, bound %d", n, maxSources)
		}
	}
}

// TestGuardWithCheckerFunc: a function (the host's accounts) checks like a
// password file, its answer deciding Accepted or Rejected.
func TestGuardWithCheckerFunc(t *testing.T) {
	t.Parallel()
	g := NewGuard(1, 10, time.Minute)
	c := CheckerFunc(func(user, password string) bool { return user == "alice" && password == "right" })
	src := netip.MustParseAddr("192.0.2.9")
	if v := g.Verify(context.Background(), c, src, "alice", "right"); v.Outcome != Accepted {
		t.Fatalf("right password: %+v", v)
	}
	if v := g.Verify(context.Background(), c, src, "alice", "wrong"); v.Outcome != Rejected {
		t.Fatalf("wrong password: %+v", v)
	}
}
