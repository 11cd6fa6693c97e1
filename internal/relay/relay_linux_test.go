package relay

import (
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// segmentsIn is how many TCP segments c has received.
func segmentsIn(t *testing.T, c syscall.Conn) uint32 {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var ierr error
	if err := raw.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.SOL_TCP, unix.TCP_INFO) }); err != nil {
		t.Fatal(err)
	}
	if ierr != nil {
		t.Fatal(ierr)
	}
	return info.Segs_in
}

// TestRelayLastReplyCarriesFIN: a server's last reply and its end of file,
// arriving together, leave the relay together too, as one segment, so the
// client reads both in one wake-up. The server side sends them in one
// segment (with the relay's own sendMore) so that the relay finds both
// queued whatever the scheduling.
func TestRelayLastReplyCarriesFIN(t *testing.T) {
	t.Parallel()
	f := startRelayFixture(t, nil, 0)
	before := segmentsIn(t, f.app)
	if _, err := sendMore(f.server, []byte("HTTP/1.0 200 OK\r\n\r\nbye")); err != nil {
		t.Fatal(err)
	}
	f.server.CloseWrite()
	if got := readAllWithin(t, f.app); string(got) != "HTTP/1.0 200 OK\r\n\r\nbye" {
		t.Fatalf("app got %q", got)
	}
	if n := segmentsIn(t, f.app) - before; n != 1 {
		t.Errorf("the reply and its end of file reached the client in %d segments, want 1", n)
	}
	f.app.Close()
	if r := f.wait(t); r.Err != nil || r.FromDst != 22 {
		t.Fatalf("result %+v", r)
	}
}

// TestRelayResetAfterData: a reset right behind the data (which the
// relay's read-ahead may meet before it has written the data) still lets
// the data through first and ends the session with the reset.
func TestRelayResetAfterData(t *testing.T) {
	t.Parallel()
	f := startRelayFixture(t, nil, 0)
	if _, err := f.server.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	f.server.SetLinger(0)
	f.server.Close() // the data, then RST
	f.app.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, _ := io.ReadAll(f.app)
	r := f.wait(t)
	if string(got) != "partial" || r.FromDst != 7 {
		t.Errorf("app got %q, relay counted %d bytes: want the data before the reset", got, r.FromDst)
	}
	if !errors.Is(r.Err, syscall.ECONNRESET) {
		t.Errorf("relay error %v, want the reset", r.Err)
	}
}
