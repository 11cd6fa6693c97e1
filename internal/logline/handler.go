package logline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Format names an output format of the log.
type Format string

const (
	FormatText Format = "text"
	FormatJSON Format = "json"
)

// ParseFormat checks a --log-format value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case FormatText, FormatJSON:
		return Format(s), nil
	}
	return "", fmt.Errorf("unknown log format %q (want text or json)", s)
}

// New returns a logger writing one line per event to w in the given format.
// When w is a Batch, every warning and error flushes it.
func New(w io.Writer, format Format, level slog.Leveler) *slog.Logger {
	if format == FormatJSON {
		return batched(w, slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: sanitizeAttr}))
	}
	return batched(w, newLineHandler(level, true, func(_ slog.Level, line []byte) error {
		_, err := w.Write(line)
		return err
	}))
}

// NewSyslogAt returns a logger that writes to the syslog socket at path as
// 4.3 did through syslog(3): facility daemon, the tag and the pid in every
// line, the session lines at notice and failures (warnings and errors) at
// err. A session line (one with a client) is 4.3's line exactly, with no
// level and no key=value fields, so that the log parsers sites wrote for
// 4.3 keep working; the daemon's own lines keep their fields (the address
// it listens on, the file it loaded). --log-format json has every field.
func NewSyslogAt(path, tag string, level slog.Leveler) (*slog.Logger, error) {
	w, err := dialSyslog(path, tag)
	if err != nil {
		return nil, err
	}
	h := newLineHandler(level, false, func(l slog.Level, line []byte) error {
		pri := logDaemon | logDebug
		switch {
		case l >= slog.LevelWarn:
			pri = logDaemon | logErr
		case l >= slog.LevelInfo:
			pri = logDaemon | logNotice
		}
		return w.write(pri, bytes.TrimSuffix(line, []byte{'\n'}))
	})
	h.noLevel, h.bareSessions = true, true
	return slog.New(h), nil
}

// sanitizeAttr escapes every string the JSON handler writes, the message
// included: JSON would escape a newline anyway, but a terminal escape would
// survive as \u001b and be turned back into ESC by any viewer that decodes
// the JSON.
func sanitizeAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Sanitize(a.Value.String()))
	case slog.KindAny:
		if e, ok := a.Value.Any().(error); ok {
			return slog.String(a.Key, Sanitize(e.Error()))
		}
		if s, ok := a.Value.Any().(fmt.Stringer); ok {
			return slog.String(a.Key, Sanitize(s.String()))
		}
	}
	return a
}

// lineHandler renders "TIME LEVEL MESSAGE key=value ..." on one line: the
// classic message stays readable as written, and the fields follow in the
// logfmt style.
type lineHandler struct {
	level    slog.Leveler
	withTime bool
	out      func(slog.Level, []byte) error
	mu       *sync.Mutex
	prefix   string // rendered attributes from WithAttrs
	group    string // key prefix from WithGroup, with a trailing dot
	// noLevel leaves the level out (syslog carries it as the priority);
	// bareSessions writes only the message of a record with a "client"
	// attribute (a session's classic line, as 4.3 wrote it).
	noLevel, bareSessions bool
}

func newLineHandler(level slog.Leveler, withTime bool, out func(slog.Level, []byte) error) *lineHandler {
	if level == nil {
		level = slog.LevelInfo
	}
	return &lineHandler{level: level, withTime: withTime, out: out, mu: new(sync.Mutex)}
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if h.withTime && !r.Time.IsZero() {
		buf.Write(r.Time.UTC().AppendFormat(buf.AvailableBuffer(), time.RFC3339Nano))
		buf.WriteByte(' ')
	}
	if !h.noLevel {
		buf.WriteString(r.Level.String())
		buf.WriteByte(' ')
	}
	msg := Sanitize(r.Message)
	if h.bareSessions && isSession(r) {
		// 4.3's syslog had the byte counts of a session on a line of their own.
		if head, counts, ok := splitTerminated(msg); ok {
			h.mu.Lock()
			defer h.mu.Unlock()
			if err := h.out(r.Level, []byte(head+"\n")); err != nil {
				return err
			}
			return h.out(r.Level, []byte(counts+"\n"))
		}
	}
	buf.WriteString(msg)
	if !h.bareSessions || !isSession(r) {
		buf.WriteString(h.prefix)
		r.Attrs(func(a slog.Attr) bool {
			appendAttr(buf, h.group, a)
			return true
		})
	}
	buf.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.out(r.Level, buf.Bytes())
}

// isSession: every line about a client's session names the client.
func isSession(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == "client"
		return !found
	})
	return found
}

func (h *lineHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var buf bytes.Buffer
	for _, a := range attrs {
		appendAttr(&buf, h.group, a)
	}
	h2 := *h
	h2.prefix = h.prefix + buf.String()
	return &h2
}

func (h *lineHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.group = h.group + name + "."
	return &h2
}

func appendAttr(buf *bytes.Buffer, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		g := group
		if a.Key != "" {
			g += a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			appendAttr(buf, g, ga)
		}
		return
	}
	buf.WriteByte(' ')
	buf.WriteString(quoteIfNeeded(Sanitize(group + a.Key)))
	buf.WriteByte('=')
	var v string
	switch a.Value.Kind() {
	case slog.KindString:
		v = a.Value.String()
	case slog.KindTime:
		v = a.Value.Time().UTC().Format(time.RFC3339Nano)
	case slog.KindInt64:
		buf.WriteString(strconv.FormatInt(a.Value.Int64(), 10))
		return
	default:
		v = a.Value.String()
	}
	buf.WriteString(quoteIfNeeded(Sanitize(v)))
}

// quoteIfNeeded wraps an already sanitised value in quotes when it holds a
// blank, a quote or '=' (or is empty), so that key=value pairs split
// unambiguously. Sanitize has doubled every backslash, so escaping the quote
// as \" cannot be confused with data.
func quoteIfNeeded(s string) string {
	need := s == ""
	for i := 0; i < len(s) && !need; i++ {
		switch s[i] {
		case ' ', '"', '=':
			need = true
		}
	}
	if !need {
		return s
	}
	var b bytes.Buffer
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
