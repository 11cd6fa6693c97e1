// Package clientname logs the host names of clients beside their
// addresses (srelay -r, --log-client-names): a reverse lookup confirmed
// forward, as libwrap's PARANOID check does, run beside the sessions so
// that no client waits for DNS.
//
// It decides nothing: access by name is internal/hostsaccess's, and the
// daemon's own log lines are internal/logline's.
package clientname

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Logger logs client host names (srelay -r) without delaying anyone:
// lookups run beside the sessions, at most 8 at once; a client arriving
// while all 8 are busy is logged without its name.
type Logger struct {
	logger *slog.Logger
	slots  chan struct{}
}

// NewLogger returns a Logger that writes to log.
func NewLogger(log *slog.Logger) *Logger {
	return &Logger{logger: log, slots: make(chan struct{}, 8)}
}

// Log logs client's host name, once looked up, or that it was not.
func (n *Logger) Log(client netip.AddrPort) {
	select {
	case n.slots <- struct{}{}:
	default:
		n.logger.Info("connect from "+client.Addr().String()+" (name not looked up: too many lookups running)", "client", client.String())
		return
	}
	go func() {
		defer func() { <-n.slots }()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		name := "unknown"
		if names, err := net.DefaultResolver.LookupAddr(ctx, client.Addr().String()); err == nil && len(names) > 0 {
			// Confirmed forward, as libwrap's PARANOID check: a reverse
			// name alone is the client's own claim.
			cand := strings.TrimSuffix(names[0], ".")
			if addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", cand); err == nil {
				for _, a := range addrs {
					if a.Unmap() == client.Addr().Unmap() {
						name = cand
						break
					}
				}
			}
		}
		n.logger.Info("connect from "+name+" ["+client.Addr().String()+"]", "client", client.String(), "name", name)
	}()
}
