package logline

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

const (
	// BatchDelay is the longest a line waits in a Batch.
	BatchDelay = 10 * time.Millisecond
	// batchMax keeps every write within PIPE_BUF (4096 bytes on Linux),
	// so that a batch written to a pipe or socket shared by several
	// processes, as the workers share the daemon's standard error, is
	// never split by another process's lines.
	batchMax = 4096
)

// Batch collects whole log lines and writes them in groups. A busy gateway
// logs two lines per connection; a write for each costs two system calls
// and the file's locking, a few percent of the connection rate
// (docs/measurements.md). A line waits at most
// BatchDelay, warnings and errors are written at once with everything
// before them (New arranges that), and the daemon calls Flush before it
// exits, reopens its log file, or tells its service manager or its
// supervisor anything.
type Batch struct {
	w     io.Writer
	mu    sync.Mutex
	buf   []byte
	armed bool // timer runs: the buffer holds a line
	timer *time.Timer
	err   error // a timed flush's error, returned by the next call
	delay time.Duration
}

// NewBatch returns a Batch writing to w.
func NewBatch(w io.Writer) *Batch {
	b := &Batch{w: w, buf: make([]byte, 0, batchMax), delay: BatchDelay}
	b.timer = time.AfterFunc(time.Hour, func() {
		b.mu.Lock()
		b.flushLocked() // its error waits for the next Write or Flush
		b.mu.Unlock()
	})
	b.timer.Stop()
	return b
}

// Write adds p, one or more whole lines, to the batch.
func (b *Batch) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > batchMax {
		b.flushLocked()
		if len(p) > batchMax {
			// A line this long is written alone, as every line was
			// before batching.
			_, err := b.w.Write(p)
			return len(p), b.takeErr(err)
		}
	}
	b.buf = append(b.buf, p...)
	if !b.armed {
		// Once per batch, not per line: a timer reset costs about as
		// much as the write it saves.
		b.armed = true
		b.timer.Reset(b.delay)
	}
	return len(p), b.takeErr(nil)
}

// Flush writes out every line held.
func (b *Batch) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	return b.takeErr(nil)
}

func (b *Batch) flushLocked() {
	if b.armed {
		b.timer.Stop()
		b.armed = false
	}
	if len(b.buf) == 0 {
		return
	}
	if _, err := b.w.Write(b.buf); err != nil && b.err == nil {
		b.err = err
	}
	b.buf = b.buf[:0]
}

// takeErr returns err, or else an earlier flush's error, once.
func (b *Batch) takeErr(err error) error {
	if err == nil {
		err, b.err = b.err, nil
	}
	return err
}

// flushOnWarn writes a Batch out after every warning or error, so that
// the lines an operator looks for first are never held back, and are on
// disk if the process dies right after.
type flushOnWarn struct {
	slog.Handler
	b *Batch
}

func (h flushOnWarn) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.b.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushOnWarn) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushOnWarn{h.Handler.WithAttrs(attrs), h.b}
}

func (h flushOnWarn) WithGroup(name string) slog.Handler {
	return flushOnWarn{h.Handler.WithGroup(name), h.b}
}

// batched gives h the flush after warnings when w is a Batch.
func batched(w io.Writer, h slog.Handler) *slog.Logger {
	if b, ok := w.(*Batch); ok {
		h = flushOnWarn{h, b}
	}
	return slog.New(h)
}
