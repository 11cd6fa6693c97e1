package relay

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/internal/testnet"
)

func TestPump(t *testing.T) {
	t.Parallel()
	buf := make([]byte, 8)
	for _, tc := range []struct {
		name     string
		in       []byte // what the source's peer sends
		closeIn  bool   // and then its end of file
		want     Outcome
		wantSent int
	}{
		{"nothing to read", nil, false, Drained, 0},
		{"a small message", []byte("hi"), false, Drained, 2},
		{"end of file behind the data", []byte("bye"), true, EndOfFile, 3},
		{"end of file alone", nil, true, EndOfFile, 0},
		{"bulk", bytes.Repeat([]byte("x"), 20), false, Bulk, len(buf)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, in := testnet.SocketPairT(t)
			dst, out := testnet.SocketPairT(t)
			if len(tc.in) > 0 {
				write(t, in, tc.in)
			}
			if tc.closeIn {
				unix.Shutdown(in, unix.SHUT_WR)
			}
			st := Pump(src, dst, buf)
			if st.Outcome != tc.want || st.Sent != tc.wantSent {
				t.Fatalf("%+v", st)
			}
			got := make([]byte, 32)
			n, _ := unix.Read(out, got)
			if want := tc.in[:tc.wantSent]; !bytes.Equal(got[:max(n, 0)], want) {
				t.Fatalf("dst got %q, want %q", got[:max(n, 0)], want)
			}
		})
	}
	t.Run("dst full", func(t *testing.T) {
		src, in := testnet.SocketPairT(t)
		dst, _ := testnet.SocketPairT(t)
		fill := make([]byte, 64<<10)
		for range 1000 { // bounded: a socket buffer holds far less
			if _, err := unix.Write(dst, fill); err == unix.EAGAIN {
				break
			}
		}
		write(t, in, []byte("late"))
		st := Pump(src, dst, buf)
		if st.Outcome != Blocked || st.Sent != 0 || string(st.Rest) != "late" {
			t.Fatalf("%+v", st)
		}
	})
	t.Run("dst gone", func(t *testing.T) {
		src, in := testnet.SocketPairT(t)
		dst, out := testnet.SocketPairT(t)
		unix.Shutdown(out, unix.SHUT_RD) // dst's peer reads no more: a write fails with EPIPE
		write(t, in, []byte("lost"))
		st := Pump(src, dst, buf)
		if st.Outcome != Failed || st.Op != "write" || st.Err != unix.EPIPE {
			t.Fatalf("%+v", st)
		}
	})
}

func write(t *testing.T, fd int, p []byte) {
	t.Helper()
	if n, err := unix.Write(fd, p); err != nil || n != len(p) {
		t.Fatalf("write: %d, %v", n, err)
	}
}
