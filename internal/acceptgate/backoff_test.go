package acceptgate

import (
	"testing"
	"time"
)

// Both of the server's accept loops pause 5 ms, doubling to at most 1 s,
// and start again from 5 ms once an accept works.
func TestBackoffPauses(t *testing.T) {
	t.Parallel()
	var b Backoff
	var got []time.Duration
	for range 10 {
		got = append(got, b.Next())
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("pauses %v, want %v ms", got, want)
		}
	}
	b.Reset()
	if p := b.Next(); p != 5*time.Millisecond {
		t.Fatalf("after a reset: %v, want 5ms", p)
	}
}
