package logline

import (
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// DevLog is the local syslog socket.
const DevLog = "/dev/log"

// syslog(3) priorities: facility daemon, and the levels 4.3 used.
const (
	logDaemon = 3 << 3
	logErr    = 3
	logNotice = 5
	logDebug  = 7
)

// syslogWriter sends lines to a local syslog socket in syslog(3)'s format,
// "<PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE", the format 4.3's lines had on
// their way to syslogd. (log/syslog cannot be pointed at another socket in
// its local format, and appends a newline.) A write that fails reconnects
// once, so a restarted syslogd gets the next line.
type syslogWriter struct {
	path, tag string
	mu        sync.Mutex
	conn      net.Conn
	stream    bool
}

func dialSyslog(path, tag string) (*syslogWriter, error) {
	w := &syslogWriter{path: path, tag: tag}
	if err := w.connect(); err != nil {
		return nil, err
	}
	return w, nil
}

// connect tries a datagram socket (what /dev/log is), then a stream one.
func (w *syslogWriter) connect() error {
	var errs []error
	for _, network := range []string{"unixgram", "unix"} {
		c, err := net.Dial(network, w.path)
		if err == nil {
			w.conn, w.stream = c, network == "unix"
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (w *syslogWriter) write(pri int, msg []byte) error {
	b := make([]byte, 0, len(msg)+64)
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(pri), 10)
	b = append(b, '>')
	b = time.Now().AppendFormat(b, time.Stamp)
	b = append(b, ' ')
	b = append(b, w.tag...)
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(os.Getpid()), 10)
	b = append(b, "]: "...)
	b = append(b, msg...)
	w.mu.Lock()
	defer w.mu.Unlock()
	for try := 0; ; try++ {
		if w.conn == nil {
			if err := w.connect(); err != nil {
				return err
			}
		}
		out := b
		if w.stream {
			out = append(b, '\n') // a stream needs a separator; datagrams are one line each
		}
		_, err := w.conn.Write(out)
		if err == nil || try == 1 {
			return err
		}
		w.conn.Close()
		w.conn = nil
	}
}
