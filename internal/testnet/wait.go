package testnet

import (
	"bytes"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Buffer collects what a process or a logger writes on its own goroutine
// while the test reads it: a bytes.Buffer behind a mutex. The zero value
// is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Eventually polls cond every interval until it holds, and reports whether
// it did before timeout passed. The loop is bounded in time and in count
// (a loaded machine makes the sleeps longer, never the loop endless). The
// caller words the failure, so each test keeps its own message.
func Eventually(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tries := int(timeout/interval) + 1
	for i := 0; ; i++ {
		if cond() {
			return true
		}
		if i >= tries || time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

// RecvT returns the next value ch yields, failing the test when none comes
// within limit; what names the awaited event in the failure.
func RecvT[T any](t testing.TB, ch <-chan T, limit time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(limit):
		t.Fatalf("timed out after %v waiting for %s", limit, what)
		panic("unreachable") // Fatalf does not return
	}
}

// Listening reports whether a TCP connection to addr succeeds.
func Listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// FreeLoopbackPort returns a TCP port of 127.0.0.1 that was free a moment
// ago, for a peer (danted, tinyproxy) that must be told its port.
func FreeLoopbackPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Terminate stops a started cmd as its service manager would: SIGTERM,
// then SIGKILL if it has not exited within grace. It waits for the exit,
// so the caller must not call cmd.Wait itself.
func Terminate(cmd *exec.Cmd, grace time.Duration) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-done
	}
}
