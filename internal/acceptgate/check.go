package acceptgate

import (
	"log/slog"
	"net/netip"
)

// Check decides an accepted connection from its addresses alone, before
// any byte of it is read or written: false closes it, and reason is
// logged. A refused client gets no SOCKS reply at all, only a closed
// connection, as with libwrap.
type Check func(client, local netip.AddrPort) (ok bool, reason string)

// Refuses runs c and logs a refusal to log.
func (c Check) Refuses(log *slog.Logger, client, local netip.AddrPort) bool {
	ok, why := c(client, local)
	if ok {
		return false
	}
	log.Warn("refused -- connect from "+client.Addr().String()+" by host access rules",
		"client", client.String(), "server", local.String(), "reason", why)
	return true
}
