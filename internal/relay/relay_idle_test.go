package relay

import (
	"io"
	"testing"
	"time"
)

// TestRelayTrafficOutlastsIdle: the idle deadline is set once and left
// early while data flows; a connection that keeps moving data in one
// direction for longer than the idle timeout must not be cut, in either
// direction's goroutine.
func TestRelayTrafficOutlastsIdle(t *testing.T) {
	const idle = time.Second
	f := startRelayFixture(t, nil, idle)
	buf := make([]byte, 1)
	start := time.Now()
	for i := 0; i < 100 && time.Since(start) < 3*idle; i++ {
		if _, err := f.app.Write([]byte{byte(i)}); err != nil {
			t.Fatalf("write %d after %v: %v", i, time.Since(start), err)
		}
		f.server.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadFull(f.server, buf); err != nil {
			t.Fatalf("read %d after %v: %v", i, time.Since(start), err)
		}
		time.Sleep(idle / 10)
	}
	select {
	case r := <-f.done:
		t.Fatalf("relay ended while data flowed: %+v", r)
	default:
	}
	f.app.Close()
	f.server.Close()
	if r := f.wait(t); r.Idle {
		t.Fatalf("result %+v: ended as idle", r)
	}
}
