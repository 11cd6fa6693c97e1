package logline

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
)

// writes records every Write it is given, as the file or pipe would see
// them.
type writes struct {
	mu   sync.Mutex
	got  [][]byte
	fail error
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return 0, w.fail
	}
	w.got = append(w.got, bytes.Clone(p))
	return len(p), nil
}

func (w *writes) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(bytes.Join(w.got, nil))
}

func (w *writes) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.got)
}

// waitUntil waits (5 s at most) for cond, which the Batch's timer makes
// true.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !testnet.Eventually(5*time.Second, time.Millisecond, cond) {
		t.Fatalf("no %s within 5 s", what)
	}
}

func TestBatchHoldsLinesUntilFlush(t *testing.T) {
	w := &writes{}
	b := NewBatch(w)
	b.delay = time.Hour
	for i := range 3 {
		fmt.Fprintf(b, "line %d\n", i)
	}
	if n := w.count(); n != 0 {
		t.Fatalf("%d writes before the flush, want 0", n)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.count() != 1 || w.text() != "line 0\nline 1\nline 2\n" {
		t.Fatalf("after Flush: %d writes of %q, want one of the three lines", w.count(), w.text())
	}
}

func TestBatchWritesWithinItsDelay(t *testing.T) {
	w := &writes{}
	b := NewBatch(w)
	b.delay = time.Millisecond
	fmt.Fprintln(b, "alone")
	waitUntil(t, "the line written by its timer", func() bool { return w.text() == "alone\n" })
	// The timer is armed again by the next batch's first line.
	fmt.Fprintln(b, "again")
	waitUntil(t, "the second batch written by its timer", func() bool { return w.text() == "alone\nagain\n" })
}

// TestBatchWritesWholeLinesWithinPipeBuf: no write is longer than 4096
// bytes unless it is one long line, every write ends at a line's end,
// and order is kept.
func TestBatchWritesWholeLinesWithinPipeBuf(t *testing.T) {
	w := &writes{}
	b := NewBatch(w)
	b.delay = time.Hour
	var want strings.Builder
	for i := range 200 {
		line := fmt.Sprintf("%03d %s\n", i, strings.Repeat("x", i%90))
		if i == 150 {
			line = strings.Repeat("L", 5000) + "\n"
		}
		want.WriteString(line)
		b.Write([]byte(line))
	}
	b.Flush()
	if w.text() != want.String() {
		t.Fatal("the lines came out changed or out of order")
	}
	for i, p := range w.got {
		if len(p) > batchMax && strings.Count(string(p), "\n") != 1 {
			t.Errorf("write %d: %d bytes holding several lines", i, len(p))
		}
		if p[len(p)-1] != '\n' {
			t.Errorf("write %d ends inside a line", i)
		}
	}
	if len(w.got) > 1+want.Len()/batchMax+2 {
		t.Errorf("%d writes for %d bytes: not batched", len(w.got), want.Len())
	}
}

func TestBatchReportsATimedFlushError(t *testing.T) {
	broken := errors.New("disk full")
	w := &writes{fail: broken}
	b := NewBatch(w)
	b.delay = time.Millisecond
	fmt.Fprintln(b, "lost")
	waitUntil(t, "the timed flush", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.err != nil
	})
	if _, err := fmt.Fprintln(b, "next"); !errors.Is(err, broken) {
		t.Fatalf("the next write returned %v, want the timed flush's error", err)
	}
	if err := b.Flush(); !errors.Is(err, broken) {
		t.Fatalf("Flush returned %v, want its own write's error", err)
	}
}

// TestBatchWarningsGoOutAtOnce: a logger on a Batch holds events but
// writes a warning, and everything before it, at once.
func TestBatchWarningsGoOutAtOnce(t *testing.T) {
	for _, format := range []Format{FormatText, FormatJSON} {
		w := &writes{}
		b := NewBatch(w)
		b.delay = time.Hour
		log := New(b, format, slog.LevelInfo).With("worker", 1)
		log.Info("connected")
		if w.count() != 0 {
			t.Fatalf("%s: an event was written at once", format)
		}
		log.Warn("accept failed")
		got := w.text()
		if !strings.Contains(got, "connected") || !strings.Contains(got, "accept failed") ||
			strings.Index(got, "connected") > strings.Index(got, "accept failed") {
			t.Fatalf("%s: after the warning the output is %q", format, got)
		}
	}
}

func TestBatchConcurrentWriters(t *testing.T) {
	w := &writes{}
	b := NewBatch(w)
	b.delay = 50 * time.Microsecond
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				fmt.Fprintf(b, "g%d line %d\n", g, i)
			}
		})
	}
	wg.Wait()
	b.Flush()
	lines := strings.Split(strings.TrimSuffix(w.text(), "\n"), "\n")
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l] {
			t.Fatalf("line %q written twice", l)
		}
		seen[l] = true
	}
	if len(seen) != 8*500 {
		t.Fatalf("%d distinct lines, want %d", len(seen), 8*500)
	}
}
