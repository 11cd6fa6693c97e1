// Package client is a SOCKS client for Go programs: what 4.3's client
// library (and the Courier library after it) was for C programs.
//
// A Dialer follows a socks.conf (text or frozen socks.fc): each destination
// is reached directly, refused, or through the servers of its line, tried
// in order until one accepts. Servers speak SOCKS4 (4.3's host[:port]
// form), SOCKS4a, SOCKS5, SOCKS5 with names resolved by the server
// (socks5h: no DNS query on this side) or HTTP CONNECT. A server's own
// address goes through the same rules, so a line that routes one server
// through another builds a multi-hop chain. Credentials for servers come
// from a separate file (Credentials), never from socks.conf.
//
// Dial and DialContext connect; Listen asks a server for one incoming
// connection (BIND); Associate opens a SOCKS5 UDP association; Plan says
// how a destination would be reached, and why, without connecting.
// ProxyDialer is a plain golang.org/x/net/proxy dialer for one proxy URL.
// With no rules given, SOCKS_SERVER names the default server as for 4.3's
// clients.
//
// Handshakes read exactly the bytes of each reply, so the connection a
// Dialer returns is the underlying connection itself (a *net.TCPConn),
// which a relay can splice; Error and ReplyCode say precisely which
// upstream failed and which SOCKS5 reply describes the failure.
package client
