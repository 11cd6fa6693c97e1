package logline

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/sockd/sockd/policy"
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
// keeps them together (the syslog output cuts them apart again, as 4.3
// wrote them: see splitTerminated).
func Terminated(r Request, fromSrc, fromDst int64) string {
	return fmt.Sprintf("terminated -- %s. %d bytes from %s, %d bytes from %s",
		r.Msg(), fromSrc, r.Src, fromDst, dstName(r))
}

// splitTerminated cuts a Terminated message into 4.3's two syslog lines,
// "terminated -- <msg>." and "N bytes from SRC, M bytes from DST" (as
// sockd(8) shows them). A cut is valid where the counts name the SRC and
// DST that the message before it names. User ids and destination names
// come from clients and may contain anything, so one could craft a second
// valid cut and start a syslog line with text of its own: the message is
// cut only when exactly one cut is valid (the true one always is), and
// otherwise stays one line. ok is false for any other message.
func splitTerminated(m string) (head, counts string, ok bool) {
	if !strings.HasPrefix(m, "terminated -- ") {
		return "", "", false
	}
	found := 0
	for i := 0; ; i += 2 {
		j := strings.Index(m[i:], ". ")
		if j < 0 {
			break
		}
		i += j
		if countsMatch(m[:i], m[i+2:]) {
			found++
			head, counts = m[:i+1], m[i+2:]
		}
	}
	if found != 1 {
		return "", "", false
	}
	return head, counts, true
}

// countsMatch: counts is "N bytes from S, M bytes from D" and msg names S
// as the client and D as the destination.
func countsMatch(msg, counts string) bool {
	n, rest, ok := strings.Cut(counts, " bytes from ")
	if !ok || !allDigits(n) {
		return false
	}
	for k := 0; ; {
		j := strings.Index(rest[k:], ", ")
		if j < 0 {
			return false
		}
		k += j
		src, tail := rest[:k], rest[k+2:]
		if mm, dst, ok := strings.Cut(tail, " bytes from "); ok && allDigits(mm) {
			// CONNECT: "...)@SRC to DST (SERV)"; the service, last, is
			// never a client's text. BIND and UDP: "...)@SRC for DST".
			if serv := strings.LastIndex(msg, " ("); serv >= 0 && strings.HasSuffix(msg, ")") &&
				strings.HasSuffix(msg[:serv], ")@"+src+" to "+dst) {
				return true
			}
			if strings.HasSuffix(msg, ")@"+src+" for "+dst) {
				return true
			}
		}
		k += 2
	}
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
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

// IdentNote is the line logged for what identd said about req, decided as
// d: Alert when identd named another user, NoIdentd when it gave no user
// (4.3 made no difference between no answer, an ERROR reply and garbage),
// "" when identd was not asked or confirmed the user. The client is named
// by its address: looking up its name only for a log line would cost a DNS
// query on the identd path.
func IdentNote(d *policy.Decision, req *policy.Request) string {
	switch d.Ident {
	case policy.IdentMismatch:
		return Alert(d.IdentUser, req.User)
	case policy.IdentUnreachable, policy.IdentMalformed, policy.IdentFailed:
		return NoIdentd(req.SrcIP.Unmap().String())
	}
	return ""
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
