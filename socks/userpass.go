package socks

import "strconv"

// Username/password sub-negotiation (RFC 1929 §2):
//
//	request: VER=1 | ULEN | UNAME (ULEN octets) | PLEN | PASSWD (PLEN octets)
//	reply:   VER=1 | STATUS

const (
	// UserPassVersion is VER in both messages of RFC 1929: the version of
	// the sub-negotiation, not of SOCKS.
	UserPassVersion = 0x01

	// MaxUserPassLen is the longest request: two 255-octet fields.
	MaxUserPassLen = 1 + 1 + 255 + 1 + 255
)

// UserPassStatus is STATUS in the RFC 1929 reply: X'00' is success, and any
// other value is failure, after which the server closes the connection.
type UserPassStatus uint8

const (
	UserPassSuccess UserPassStatus = 0x00
	UserPassFailure UserPassStatus = 0x01
)

func (s UserPassStatus) String() string {
	if s == UserPassSuccess {
		return "success"
	}
	return "failure(0x" + strconv.FormatUint(uint64(s), 16) + ")"
}

// UserPass is the RFC 1929 request. Both fields are octet strings as sent.
// RFC 1929 gives them 1 to 255 octets, but ParseUserPass also accepts empty
// ones: curl sends PLEN 0 for "user:" and whether an empty password is good
// enough is for the authenticator to say, not the codec.
type UserPass struct {
	Username string
	Password string
}

// String redacts the password so that a logged message never leaks it.
func (u UserPass) String() string {
	return "username=" + strconv.Quote(u.Username) + " password=<redacted>"
}

// GoString redacts the password from %#v as well.
func (u UserPass) GoString() string {
	return "socks.UserPass{Username:" + strconv.Quote(u.Username) + ", Password:<redacted>}"
}

// ParseUserPass parses an RFC 1929 request at the start of b. VER other
// than 1 yields ErrVersion.
func ParseUserPass(b []byte) (up UserPass, n int, err error) {
	if err := checkVersion(b, UserPassVersion, "VER", 2); err != nil {
		return UserPass{}, 0, err
	}
	ulen := int(b[1])
	plenAt := 2 + ulen
	if len(b) < plenAt+1 {
		return UserPass{}, 0, ErrIncomplete
	}
	plen := int(b[plenAt])
	n = plenAt + 1 + plen
	if len(b) < n {
		return UserPass{}, 0, ErrIncomplete
	}
	up.Username = string(b[2:plenAt])
	up.Password = string(b[plenAt+1 : n])
	return up, n, nil
}

// AppendUserPass appends an RFC 1929 request; either field longer than 255
// octets fails with ErrTooLong.
func AppendUserPass(b []byte, up UserPass) ([]byte, error) {
	if len(up.Username) > 255 {
		return b, fieldErr(ErrTooLong, "UNAME", 255)
	}
	if len(up.Password) > 255 {
		return b, fieldErr(ErrTooLong, "PASSWD", 255)
	}
	b = append(b, UserPassVersion, byte(len(up.Username)))
	b = append(b, up.Username...)
	b = append(b, byte(len(up.Password)))
	return append(b, up.Password...), nil
}

// ParseUserPassReply parses an RFC 1929 reply at the start of b. VER other
// than 1 yields ErrVersion; every STATUS is returned as is.
func ParseUserPassReply(b []byte) (status UserPassStatus, n int, err error) {
	return parseVersionAnd[UserPassStatus](b, UserPassVersion)
}

// AppendUserPassReply appends an RFC 1929 reply.
func AppendUserPassReply(b []byte, status UserPassStatus) []byte {
	return append(b, UserPassVersion, byte(status))
}
