package ident

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// ParseReply parses one identd reply line (RFC 1413 §4), without its end of
// line, and checks that it answers the query for the port pair (serverPort,
// clientPort) as the query named it: the port on the identd's host first.
//
//	<port-pair> : USERID : <opsys> [, <charset>] : <user-id>
//	<port-pair> : ERROR : <error-type>
//
// Blanks may surround every token, except that the user id is everything
// after the third colon; Reply.UserID has its surrounding blanks trimmed.
// A USERID reply returns the Reply, an ERROR reply an *ErrorReply (matching
// ErrIdentError), anything else or a different port pair an error matching
// ErrMalformed. Tokens are compared case-insensitively, as the RFC says.
func ParseReply(line []byte, serverPort, clientPort uint16) (Reply, error) {
	if bytes.IndexByte(line, 0) >= 0 || bytes.ContainsAny(line, "\r\n") {
		return Reply{}, malformed("control characters (NUL, CR, LF) in the reply line")
	}
	pairField, rest, ok := bytes.Cut(line, []byte{':'})
	if !ok {
		return Reply{}, malformed("no ':' after the port pair")
	}
	gotServer, gotClient, err := parsePortPair(pairField)
	if err != nil {
		return Reply{}, err
	}
	if gotServer != serverPort || gotClient != clientPort {
		return Reply{}, malformed(fmt.Sprintf("reply is for ports %d , %d, asked for %d , %d",
			gotServer, gotClient, serverPort, clientPort))
	}
	typeField, rest, ok := bytes.Cut(rest, []byte{':'})
	if !ok {
		return Reply{}, malformed("no ':' after the response type")
	}
	respType := string(trimBlanks(typeField))
	switch {
	case strings.EqualFold(respType, "ERROR"):
		token := string(trimBlanks(rest))
		if !isToken(token) {
			return Reply{}, malformed("ERROR reply without a valid error type")
		}
		return Reply{}, &ErrorReply{Token: strings.ToUpper(token)}
	case strings.EqualFold(respType, "USERID"):
		osField, userID, ok := bytes.Cut(rest, []byte{':'})
		if !ok {
			return Reply{}, malformed("USERID reply without a ':' before the user id")
		}
		osName, charset, hasCharset := bytes.Cut(osField, []byte{','})
		reply := Reply{OS: string(trimBlanks(osName)), UserID: string(trimBlanks(userID))}
		if !isToken(reply.OS) {
			return Reply{}, malformed("USERID reply with an invalid operating system token")
		}
		if hasCharset {
			reply.Charset = string(trimBlanks(charset))
			if !isToken(reply.Charset) {
				return Reply{}, malformed("USERID reply with an invalid character set token")
			}
		}
		if reply.UserID == "" {
			return Reply{}, malformed("USERID reply with an empty user id")
		}
		return reply, nil
	}
	return Reply{}, malformed("unknown response type")
}

func malformed(why string) error { return fmt.Errorf("%w: %s", ErrMalformed, why) }

// parsePortPair parses "<port> , <port>" with optional blanks.
func parsePortPair(field []byte) (server, client uint16, err error) {
	first, second, ok := bytes.Cut(field, []byte{','})
	if !ok {
		return 0, 0, malformed("port pair without ','")
	}
	server, err1 := parsePort(first)
	client, err2 := parsePort(second)
	if err1 != nil || err2 != nil {
		return 0, 0, malformed("port pair with an invalid port")
	}
	return server, client, nil
}

func parsePort(field []byte) (uint16, error) {
	digits := trimBlanks(field)
	if len(digits) == 0 || len(digits) > 5 {
		return 0, strconv.ErrSyntax
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	port, err := strconv.ParseUint(string(digits), 10, 16)
	if err != nil || port == 0 {
		return 0, strconv.ErrRange
	}
	return uint16(port), nil
}

// trimBlanks removes the spaces and tabs that RFC 1413 allows around tokens.
func trimBlanks(b []byte) []byte { return bytes.Trim(b, " \t") }

// isToken reports whether s is a plausible RFC 1413 token: 1 to 64
// printable US-ASCII characters without blanks, ':' or ','.
func isToken(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == ':' || c == ',' {
			return false
		}
	}
	return true
}
