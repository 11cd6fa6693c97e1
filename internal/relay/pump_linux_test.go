package relay

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// socketPair returns two connected non-blocking stream sockets, closed
// when the test ends.
func socketPair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

func write(t *testing.T, fd int, p []byte) {
	t.Helper()
	if n, err := unix.Write(fd, p); err != nil || n != len(p) {
		t.Fatalf("write: %d, %v", n, err)
	}
}

func readSome(t *testing.T, fd int, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	k, err := unix.Read(fd, b)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b[:k]
}

func TestPump(t *testing.T) {
	t.Parallel()
	buf := make([]byte, 8)

	t.Run("nothing to read", func(t *testing.T) {
		src, _ := socketPair(t)
		dst, _ := socketPair(t)
		if st := Pump(src, dst, buf); st.Outcome != Drained || st.Sent != 0 {
			t.Fatalf("%+v", st)
		}
	})
	t.Run("a small message", func(t *testing.T) {
		src, in := socketPair(t)
		dst, out := socketPair(t)
		write(t, in, []byte("hi"))
		if st := Pump(src, dst, buf); st.Outcome != Drained || st.Sent != 2 {
			t.Fatalf("%+v", st)
		}
		if got := readSome(t, out, 16); string(got) != "hi" {
			t.Fatalf("dst got %q", got)
		}
	})
	t.Run("end of file behind the data", func(t *testing.T) {
		src, in := socketPair(t)
		dst, out := socketPair(t)
		write(t, in, []byte("bye"))
		unix.Shutdown(in, unix.SHUT_WR)
		if st := Pump(src, dst, buf); st.Outcome != EndOfFile || st.Sent != 3 {
			t.Fatalf("%+v", st)
		}
		if got := readSome(t, out, 16); string(got) != "bye" {
			t.Fatalf("dst got %q", got)
		}
	})
	t.Run("end of file alone", func(t *testing.T) {
		src, in := socketPair(t)
		dst, _ := socketPair(t)
		unix.Shutdown(in, unix.SHUT_WR)
		if st := Pump(src, dst, buf); st.Outcome != EndOfFile || st.Sent != 0 {
			t.Fatalf("%+v", st)
		}
	})
	t.Run("bulk", func(t *testing.T) {
		src, in := socketPair(t)
		dst, out := socketPair(t)
		write(t, in, bytes.Repeat([]byte("x"), 20))
		if st := Pump(src, dst, buf); st.Outcome != Bulk || st.Sent != len(buf) {
			t.Fatalf("%+v", st)
		}
		if got := readSome(t, out, 32); len(got) != len(buf) {
			t.Fatalf("dst got %d bytes", len(got))
		}
	})
	t.Run("dst full", func(t *testing.T) {
		src, in := socketPair(t)
		dst, _ := socketPair(t)
		fill := make([]byte, 64<<10)
		for i := 0; i < 1000; i++ { // bounded: a socket buffer holds far less
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
		src, in := socketPair(t)
		dst, out := socketPair(t)
		unix.Shutdown(out, unix.SHUT_RD) // dst's peer reads no more: a write fails with EPIPE
		write(t, in, []byte("lost"))
		st := Pump(src, dst, buf)
		if st.Outcome != Failed || st.Op != "write" || st.Err != unix.EPIPE {
			t.Fatalf("%+v", st)
		}
	})
}
