package testnet

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"
)

func TestEventually(t *testing.T) {
	n := 0
	if !Eventually(10*time.Second, time.Millisecond, func() bool { n++; return n == 3 }) || n != 3 {
		t.Errorf("a condition true at the third poll: polled %d times", n)
	}
	n = 0
	if Eventually(20*time.Millisecond, 5*time.Millisecond, func() bool { n++; return false }) {
		t.Error("a condition never true was reported true")
	}
	if n > 20/5+2 {
		t.Errorf("polled %d times in a 20 ms wait every 5 ms", n)
	}
}

func TestBufferConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { fmt.Fprintf(&b, "%d\n", i); _ = b.String() })
	}
	wg.Wait()
	if got := len(b.String()); got != 16 {
		t.Errorf("%d bytes, want 16", got)
	}
}

func TestListeningAndFreePort(t *testing.T) {
	ln := EchoT(t, "tcp", "127.0.0.1:0")
	if !Listening(ln.Addr().String()) {
		t.Error("an open listener is not listening")
	}
	p := FreeLoopbackPort(t)
	if Listening(fmt.Sprintf("127.0.0.1:%d", p)) {
		t.Errorf("port %d from FreeLoopbackPort has a listener", p)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "x")
	if b := make([]byte, 1); func() error { _, err := io.ReadFull(c, b); return err }() != nil || b[0] != 'x' {
		t.Error("no echo")
	}
}

// TestTerminate: a process that exits on SIGTERM is waited for; one that
// ignores SIGTERM is killed after the grace period.
func TestTerminate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
	}{
		{"obeys", "echo ready; exec sleep 60"},
		{"ignores", `trap "" TERM; echo ready; exec sleep 60`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", tc.script)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// "ready" comes after the trap is set (the ignored signal stays
			// ignored across exec), so the test does not race the shell.
			if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
				t.Fatalf("read %q, %v", line, err)
			}
			Terminate(cmd, 200*time.Millisecond)
			if cmd.ProcessState == nil {
				t.Fatal("not waited for")
			}
			want := "signal: terminated"
			if tc.name == "ignores" {
				want = "signal: killed"
			}
			if got := cmd.ProcessState.String(); got != want {
				t.Errorf("ended with %q, want %q", got, want)
			}
		})
	}
}

func TestRecvT(t *testing.T) {
	ch := make(chan string, 1)
	ch <- "sent"
	if got := RecvT(t, ch, 10*time.Second, "the value"); got != "sent" {
		t.Errorf("RecvT = %q, want the value sent", got)
	}
}
