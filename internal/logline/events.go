package logline

import (
	"errors"
	"fmt"
	"syscall"
)

// Unknown is what 4.3 printed for the identd user when identd was not
// asked or gave no answer.
const Unknown = "unknown"

// UnspecifiedHost is 4.3's name for a destination of 0.0.0.0 (a BIND that
// lets the server pick).
const UnspecifiedHost = "Unspecified.Host"

// Request describes one SOCKS request the way the classic lines name it.
// The strings are raw (possibly hostile) client data: the handlers escape
// them when the line is written, so callers must not escape them first.
type Request struct {
	// Command is "Connect", "Bind" or "UDP" (UDP ASSOCIATE, our extension).
	Command string
	User    string // the user id the client claimed (SOCKS4 USERID, SOCKS5 user name)
	Ident   string // the user identd reported; "" prints as "unknown"
	Src     string // the client: host name if known, else its address
	Dst     string // the destination: name if known, else its address; "" prints as Unspecified.Host
	Service string // the destination port's service name, else the number
}

// Msg is the part every classic line shares: "Connect from U(R)@SRC to DST
// (SERV)" for CONNECT, "Bind from U(R)@SRC for DST" for BIND.
func (r Request) Msg() string {
	ident := r.Ident
	if ident == "" {
		ident = Unknown
	}
	dst := r.Dst
	if dst == "" {
		dst = UnspecifiedHost
	}
	switch r.Command {
	case "Bind":
		return "Bind from " + r.User + "(" + ident + ")@" + r.Src + " for " + dst
	case "UDP":
		return "UDP associate from " + r.User + "(" + ident + ")@" + r.Src + " for " + dst
	}
	return "Connect from " + r.User + "(" + ident + ")@" + r.Src + " to " + dst + " (" + r.Service + ")"
}

// Connected is logged when the relay starts. For BIND, peerService is the
// port of the peer that connected in (4.3 appended it); it is ignored for
// CONNECT.
func Connected(r Request, peerService string) string {
	if r.Command == "Bind" && peerService != "" {
		return "connected -- " + r.Msg() + " (" + peerService + ")"
	}
	return "connected -- " + r.Msg()
}

// Terminated is logged when a relayed session ends, with the byte counts of
// both directions. 4.3 wrote the counts as a second line; one line per event
// keeps them together.
func Terminated(r Request, fromSrc, fromDst int64) string {
	return fmt.Sprintf("terminated -- %s. %d bytes from %s, %d bytes from %s",
		r.Msg(), fromSrc, r.Src, fromDst, dstName(r))
}

// Refused is logged when the rules (or identd) refuse a request.
func Refused(r Request) string { return "refused -- " + r.Msg() }

// Failed is logged when an operation needed for the request fails: op is
// the system call 4.3 named ("connect", "bind", "listen", "accept",
// "getsockname", or our "resolve"), err its error, reduced to strerror text
// when it carries an errno.
func Failed(r Request, op string, err error) string {
	return "failed -- " + r.Msg() + ".  Error code: " + op + "() " + strerror(err)
}

// WrongHost is logged when the peer that connected to a BIND listener is not
// the host the client named.
func WrongHost(r Request, peer, peerService string) string {
	return "failed -- " + r.Msg() + ". Error: connected to wrong host " + peer + " (" + peerService + ")"
}

// TimedOut is logged when a connect, BIND accept or idle relay times out.
func TimedOut(r Request) string { return "timed-out -- " + r.Msg() }

// NoIdentd is logged when identd on the client's host cannot be reached.
func NoIdentd(src string) string { return "cannot connect to identd on " + src }

// Alert is logged when identd names another user than the client claimed.
func Alert(realUser, claimed string) string {
	return "*Alert*: real user is " + realUser + ", not " + claimed
}

// WrongVersion is logged when the first byte is neither 4 nor 5.
func WrongVersion(version byte, src string) string {
	return fmt.Sprintf("error -- wrong version (0x%02x) from host %s.", version, src)
}

// UndefinedCommand is logged for a request with an unknown command code.
func UndefinedCommand(command byte, src string) string {
	return fmt.Sprintf("error -- undefined command (0x%02x) from host %s", command, src)
}

// BadRequest is logged when a request cannot be parsed (4.3's
// "Error in GetDst").
func BadRequest(err error, src string) string {
	return "Error in GetDst: " + err.Error() + "; from host " + src
}

func dstName(r Request) string {
	if r.Dst == "" {
		return UnspecifiedHost
	}
	return r.Dst
}

// strerror reduces a Go network error to the C library's text for its errno
// ("Connection refused"), as 4.3's %m printed it; other errors keep their
// own text.
func strerror(err error) string {
	if err == nil {
		return "Success"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		if s != "" && s[0] >= 'a' && s[0] <= 'z' {
			return string(s[0]-'a'+'A') + s[1:]
		}
		return s
	}
	return err.Error()
}
